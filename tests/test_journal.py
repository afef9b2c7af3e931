"""StoreJournal on a real SQLite store: turns, intents, outcome and the call's stereo recording."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from ivr.core.config import RecordingsConfig
from ivr.core.events import (
    AudioChunk,
    CallAnswered,
    DtmfDigit,
    Hangup,
    IntentDetected,
    Say,
    SensitiveInput,
    SpeechEnded,
    SpeechStarted,
    Transcript,
    WordInfo,
)
from ivr.session.journal import StoreJournal
from ivr.storage import CallStore


class Leg:
    """The parts of a call leg the journal uses; `tap()` yields what `feed` was given until `end()`."""

    def __init__(self, call_id: str) -> None:
        self.call_id, self.caller, self.callee, self.worker = call_id, '"Bob" <sip:+15551234@pbx>', "sip:ivr@x", "w0"
        self.hangup_event: Hangup | None = None
        self._frames: asyncio.Queue[AudioChunk | None] = asyncio.Queue()

    def feed(self, direction: str, at: float, level: int, seconds: float = 0.2) -> None:
        for i in range(int(seconds / 0.02)):
            pcm = (np.full(320, level, dtype="<i2")).tobytes()
            self._frames.put_nowait(AudioChunk(self.call_id, pcm=pcm, direction=direction, at=at + i * 0.02))

    def end(self, by: str) -> None:
        self.hangup_event = Hangup(self.call_id, by=by)
        self._frames.put_nowait(None)

    async def tap(self, rate: int = 16000) -> AsyncIterator[AudioChunk]:
        while (chunk := await self._frames.get()) is not None:
            yield chunk


class Call:
    def __init__(self, leg: Leg) -> None:
        self.leg, self.call_id = leg, leg.call_id
        self.listen: object | None = None  # FlowCall's current input step (None: the flow is not listening)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CallStore]:
    s = CallStore(f"sqlite:///{tmp_path / 'ivr.db'}", spool_dir=tmp_path / "spool", node="n1")
    await s.start()
    yield s
    await s.close()


def offered(
    store: CallStore, call_id: str, flow: str = "", recordings: RecordingsConfig | None = None, root: Path = Path(".")
) -> tuple[StoreJournal, Leg, Any]:
    """A journal, and a call on a stand-in leg that it has been told was offered."""
    journal = StoreJournal(store, recordings, root=root)
    leg = Leg(call_id)
    call = cast(Any, Call(leg))
    journal.call_offered(cast(Any, leg), flow_name=flow)
    return journal, leg, call


async def test_a_transferred_call_leaves_turns_intents_and_a_checksummed_recording(
    store: CallStore, tmp_path: Path
) -> None:
    journal, leg, call = offered(
        store, "w0-c1", flow="acme_retail", recordings=RecordingsConfig(dir="rec", flush_seconds=0.2), root=tmp_path
    )
    t0 = time.monotonic()
    journal.event(call, CallAnswered(leg.call_id, codec="PCMU/8000", at=t0))
    journal.event(call, Say(leg.call_id, text="Thank you for calling Acme."))
    leg.feed("out", t0, 8000)  # the prompt, on the right
    journal.event(call, DtmfDigit(leg.call_id, digit="1", at=t0 + 0.3))
    journal.event(call, IntentDetected(leg.call_id, step="menu", text="1", intent="order_status", confidence=1.0,
                                       source="dtmf"))  # fmt: skip
    words = (WordInfo("where", 0.9, 0.0, 0.3), WordInfo("is", 0.9, 0.3, 0.4), WordInfo("it", 0.9, 0.4, 0.6))
    journal.event(call, Transcript(leg.call_id, text="where is it", final=True, confidence=0.82, words=words,
                                   at=t0 + 1.6))  # fmt: skip
    leg.feed("in", t0 + 1.0, -8000, 0.6)  # the caller, on the left
    journal.event(call, IntentDetected(leg.call_id, step="ask", text="where is it", intent="order_status",
                                       confidence=0.74, source="speech"))  # fmt: skip
    journal.event(call, Transcript(leg.call_id, text="um", final=True, confidence=0.3, at=t0 + 2.0))
    assert journal.last_intent(leg.call_id) == "order_status"
    journal.set_outcome(leg.call_id, "transferred", queue="support", agent_id="ann")
    journal.set_outcome(leg.call_id, "", hangup_by="agent")
    leg.end("ivr")
    journal.event(call, Hangup(leg.call_id, by="ivr"))
    await journal.call_finished(call)
    assert await store.flush(10)

    detail = await store.call_detail(leg.call_id)
    assert detail is not None
    assert (detail.status, detail.queue, detail.agent_id, detail.flow_name) == (
        "transferred",
        "support",
        "ann",
        "acme_retail",
    )
    turns = [(t.speaker, t.text, t.intent) for t in detail.turns]
    assert turns == [
        ("ivr", "Thank you for calling Acme.", ""),
        ("caller", "[keys] 1", "order_status"),
        ("caller", "where is it", "order_status"),
        ("caller", "um", ""),  # heard, but no intent followed: kept as said
    ]
    spoken = detail.turns[2]
    assert spoken.confidence == pytest.approx(0.82) and spoken.intent_score == pytest.approx(0.74)
    assert spoken.start_offset == pytest.approx(1.0, abs=0.01) and spoken.end_offset == pytest.approx(1.6, abs=0.01)
    assert detail.turns[1].start_offset == pytest.approx(0.3, abs=0.01)
    assert [(i.name, i.step, i.turn_uid) for i in detail.intents] == [
        ("order_status", "menu", detail.turns[1].uid),
        ("order_status", "ask", detail.turns[2].uid),
    ]
    (rec,) = detail.recordings
    assert rec.status == "complete" and rec.channels == 2
    assert rec.sha256 == hashlib.sha256(Path(rec.path).read_bytes()).hexdigest()
    stereo = np.frombuffer(read_wav_stereo(Path(rec.path)), "<i2").reshape(-1, 2)
    assert stereo[: int(0.2 * 16000), 1].mean() == pytest.approx(8000, rel=0.01)  # IVR right
    assert stereo[int(1.1 * 16000) : int(1.5 * 16000), 0].mean() == pytest.approx(-8000, rel=0.01)  # caller left
    rows = await store.cdr()
    assert rows[0].hangup_by == "agent"


async def test_a_sensitive_step_pauses_the_recording_and_masks_what_the_caller_says(
    store: CallStore, tmp_path: Path
) -> None:
    journal, leg, call = offered(
        store, "w0-c5", flow="pay", recordings=RecordingsConfig(dir="rec", flush_seconds=0.2), root=tmp_path
    )
    t0 = time.monotonic()
    journal.event(call, CallAnswered(leg.call_id, at=t0))
    journal.event(call, SensitiveInput(leg.call_id, on=True, step="card"))  # the first step: no recorder yet
    journal.event(call, Say(leg.call_id, text="Your card number?"))
    leg.feed("in", t0 + 0.1, 9000, 0.4)  # the caller reads the number
    journal.event(call, Transcript(leg.call_id, text="four one one one", final=True, confidence=0.9, at=t0 + 0.5))
    journal.event(call, IntentDetected(leg.call_id, step="card", text="[redacted speech]", source="speech"))
    read_back = Say(leg.call_id, text="I heard four one one one, right?", redacted="I heard [redacted], right?")
    journal.event(call, read_back)
    await asyncio.sleep(0.6)
    journal.event(call, Hangup(leg.call_id, by="caller"))
    journal.event(call, SensitiveInput(leg.call_id, on=False, step="card"))  # the caller hung up in the step
    resumed = time.monotonic() - t0
    leg.feed("out", t0 + resumed + 0.05, 7000, 0.2)  # audio after the step is kept
    leg.end("caller")
    await journal.call_finished(call)
    assert await store.flush(10)

    detail = await store.call_detail(leg.call_id)
    assert detail is not None
    assert sorted((t.speaker, t.text) for t in detail.turns) == [
        ("caller", "[redacted speech]"),
        ("ivr", "I heard [redacted], right?"),
        ("ivr", "Your card number?"),
    ]
    (rec,) = detail.recordings
    stereo = np.frombuffer(read_wav_stereo(Path(rec.path)), "<i2").reshape(-1, 2)
    ((start, end),) = json.loads(Path(rec.path + ".json").read_text())["pauses"]
    assert start <= 0.1 and end == pytest.approx(resumed + 0.05, abs=0.005)  # until audio is kept again
    assert rec.pauses == [(start, end)]  # the database row lists the same pause as the sidecar
    assert not stereo[: round(end * 16000)].any()  # the caller's words are silence, from the start of the file
    assert stereo[round((resumed + 0.1) * 16000) : round((resumed + 0.2) * 16000), 1].mean() == pytest.approx(7000)


async def test_speech_decoded_after_its_sensitive_step_ended_is_still_masked(store: CallStore, tmp_path: Path) -> None:
    # The caller spoke the card number, then keyed it; the keys ended the step before the decode came back.
    journal, leg, call = offered(store, "w0-c6", flow="pay", recordings=RecordingsConfig(enabled=False), root=tmp_path)
    journal.event(call, CallAnswered(leg.call_id, at=time.monotonic()))
    journal.event(call, SensitiveInput(leg.call_id, on=True, step="card"))
    journal.event(call, SensitiveInput(leg.call_id, on=False, step="card"))
    late = Transcript(leg.call_id, text="four one one one", final=True, confidence=0.9, sensitive=True)
    journal.event(call, late)
    journal.event(call, IntentDetected(leg.call_id, step="menu", text="[redacted speech]", source="speech"))
    journal.event(call, Hangup(leg.call_id, by="caller"))
    leg.end("caller")
    await journal.call_finished(call)
    assert await store.flush(10)
    detail = await store.call_detail(leg.call_id)
    assert detail is not None
    assert [(t.speaker, t.text) for t in detail.turns] == [("caller", "[redacted speech]")]


def read_wav_stereo(path: Path) -> bytes:
    import wave

    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2
        return w.readframes(w.getnframes())


@pytest.mark.parametrize(
    ("answered", "by", "stopping", "status"),
    [
        (True, "caller", False, "completed"),
        (True, "system", False, "interrupted"),  # the worker died
        (True, "ivr", True, "interrupted"),  # ivr serve was shutting down
        (False, "caller", False, "abandoned"),  # gone before the answer
    ],
)
async def test_final_status_follows_how_the_call_ended(
    store: CallStore, answered: bool, by: str, stopping: bool, status: str
) -> None:
    journal, leg, call = offered(store, "c-" + status + by)  # no recordings section: nothing is recorded
    if answered:
        journal.event(call, CallAnswered(leg.call_id, at=time.monotonic()))
    journal.stopping = stopping
    journal.event(call, Hangup(leg.call_id, by=by))
    await journal.call_finished(call)
    assert await store.flush(10)
    detail = await store.call_detail(leg.call_id)
    assert detail is not None and detail.status == status and detail.recordings == []


async def test_unwritable_recording_dir_leaves_the_call_unrecorded_but_journaled(
    store: CallStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "rec"
    blocker.write_text("a file where the recordings directory should be")
    journal, leg, call = offered(store, "w0-c9", recordings=RecordingsConfig(dir="rec"), root=tmp_path)
    journal.event(call, CallAnswered(leg.call_id, at=time.monotonic()))
    leg.feed("in", time.monotonic(), 1000)
    leg.end("caller")
    await journal.call_finished(call)
    assert await store.flush(10)
    detail = await store.call_detail(leg.call_id)
    assert detail is not None and detail.status == "completed" and detail.recordings == []
    assert "is not recorded" in caplog.text and "free disk space" in caplog.text


async def test_a_reply_stores_its_latency_from_the_end_of_the_callers_speech(store: CallStore) -> None:
    journal, leg, call = offered(store, "w0-lat")
    journal.event(call, CallAnswered(leg.call_id, at=time.monotonic()))
    journal.event(call, Say(leg.call_id, text="How can I help?"))  # the greeting answers nobody
    call.listen = object()
    journal.event(call, SpeechEnded(leg.call_id, at=time.monotonic() - 0.75, duration=1.2))
    journal.event(call, Transcript(leg.call_id, text="order status", final=True, confidence=0.9))
    journal.event(call, IntentDetected(leg.call_id, step="menu", text="order status", intent="order_status",
                                       confidence=0.8, source="speech"))  # fmt: skip
    call.listen = None
    journal.event(call, Say(leg.call_id, text="Sure, your order number?"))
    journal.event(call, Say(leg.call_id, text="Say it digit by digit."))  # the same reply's second prompt
    journal.event(call, Transcript(leg.call_id, text="hello?", final=True))  # heard while not listening
    journal.event(call, Say(leg.call_id, text="Still there?"))
    journal.event(call, Hangup(leg.call_id, by="caller"))
    await journal.call_finished(call)
    assert await store.flush(10)
    detail = await store.call_detail(leg.call_id)
    assert detail is not None
    replies = await store.qa.report("latency", since=detail.started_at, until=detail.started_at.replace(year=3000))
    assert [(r.day, r.replies) for r in replies][-1] == ("all", 1)
    assert replies[-1].mean == pytest.approx(0.75, abs=0.2)


async def test_a_spoken_turn_starts_where_the_caller_began_to_speak_not_when_it_was_decoded(store: CallStore) -> None:
    """A QA reviewer clicks a turn to hear it: its offsets are the speech's, not the later transcript's."""
    journal, leg, call = offered(store, "w0-span")
    t0 = time.monotonic()
    journal.event(call, CallAnswered(leg.call_id, at=t0))
    call.listen = object()
    journal.event(call, SpeechStarted(leg.call_id, at=t0 + 2.0))
    journal.event(call, SpeechEnded(leg.call_id, at=t0 + 3.1, duration=1.1))
    # decoded 2.5 s later (trailing silence and a busy recognizer), with word times the engine counts its own way
    words = (WordInfo("order", 0.9, 0.0, 0.4), WordInfo("status", 0.9, 0.4, 0.9))
    journal.event(call, Transcript(leg.call_id, text="order status", final=True, confidence=0.9, words=words,
                                   at=t0 + 5.6))  # fmt: skip
    journal.event(call, IntentDetected(leg.call_id, step="menu", text="order status", intent="order_status",
                                       confidence=0.8, source="speech"))  # fmt: skip
    journal.event(call, SpeechEnded(leg.call_id, at=t0 + 8.0, duration=0.5))  # no SpeechStarted seen: by duration
    journal.event(call, Transcript(leg.call_id, text="hello", final=True, confidence=0.5, at=t0 + 9.5))
    journal.event(call, Hangup(leg.call_id, by="caller"))
    await journal.call_finished(call)
    assert await store.flush(10)
    detail = await store.call_detail(leg.call_id)
    assert detail is not None
    spans = [(t.text, t.start_offset, t.end_offset) for t in detail.turns]
    assert spans == [("order status", pytest.approx(2.0, abs=0.01), pytest.approx(3.1, abs=0.01)),
                     ("hello", pytest.approx(7.5, abs=0.01), pytest.approx(8.0, abs=0.01))]  # fmt: skip
