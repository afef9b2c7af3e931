"""A sensitive collect step over real SIP: the card number is paused out of the recording and masked everywhere.

The caller first reads "4 1 1 1" aloud (real FSDD recordings, too short for a card: a miss), then keys the
card number and '#'. The server's database, log, recording and its sidecar are read back afterwards.
"""

from __future__ import annotations

import asyncio
import json
import time
import wave
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asr.corpus import DigitTake, spoken_digits
from ivr.core.audio import rms_dbfs, write_wav
from ivr.storage import CallDetail, CallStore
from tests.conftest import FSDD, REPO
from tests.e2e.conftest import assert_clean_exit
from tests.e2e.harness import IvrServer, events, run_call, start_server

pytestmark = pytest.mark.e2e

CARD = "4111111111111111"
RATE = 16000


@pytest.fixture(scope="module")
def payments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IvrServer]:
    """`ivr serve` (one worker, storage and recording on) running tests/e2e/flows/card_payment.yaml."""
    env = {"IVR_FLOWS__DEFAULT": str(REPO / "tests/e2e/flows/card_payment.yaml")}
    srv = start_server(tmp_path_factory.mktemp("payments"), workers=1, kamailio=False, env=env)
    yield srv
    assert_clean_exit(srv)


def stored_call(srv: IvrServer, since: datetime, timeout: float = 15.0) -> CallDetail:
    """The newest call's record once it has ended and its recording is stored."""

    async def newest() -> CallDetail | None:
        store = CallStore(f"sqlite:///{srv.root / 'var/ivr.db'}", spool_dir=srv.root / "var/t-spool")
        try:
            rows = await store.cdr(since=since)
            return await store.call_detail(rows[0].call_id) if rows else None
        finally:
            await store.close()

    deadline = time.monotonic() + timeout
    while True:
        d = asyncio.run(newest())
        if d is not None and d.ended_at is not None and d.recordings:
            return d
        assert time.monotonic() < deadline, f"no finished call with a recording stored: {d}"
        time.sleep(0.3)


def stereo(path: str) -> np.ndarray[Any, np.dtype[np.int16]]:
    with wave.open(path) as w:
        assert (w.getnchannels(), w.getframerate()) == (2, RATE)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)


def loud_seconds(pcm: bytes, threshold: float = -40.0) -> float:
    """Seconds of 20 ms frames louder than `threshold` dBFS (mono PCM16 at RATE)."""
    n = RATE // 50
    return sum(0.02 for i in range(0, len(pcm) // 2 - n, n) if rms_dbfs(pcm[2 * i : 2 * (i + n)]) > threshold)


def test_card_digits_are_paused_out_of_the_recording_and_masked_in_records_and_logs(
    payments: IvrServer, tmp_path: Path
) -> None:
    spoken = tmp_path / "spoken-4111.wav"
    write_wav(spoken, spoken_digits([DigitTake(FSDD / f"{d}_jackson_{i}.wav", int(d), "jackson")
                                     for i, d in enumerate("4111")]), 8000)  # fmt: skip
    heard = tmp_path / "heard.wav"
    since = datetime.now(UTC)
    t = run_call(payments.uri, f"quiet play {spoken}", f"quiet dtmf {CARD}#", record=heard, max_seconds=60)
    assert t["answered"] and t["ended_by"] == "remote", t  # the flow said goodbye and hung up
    d = stored_call(payments, since)

    # The flow still had the real number: its branch took the card as a Visa-range number.
    said = [(turn.speaker, turn.text) for turn in d.turns]
    assert ("ivr", "Thank you, your card was accepted.") in said, said
    # Transcript: the caller's words and keys are masked; nothing holds the digits.
    caller = [turn for turn in d.turns if turn.speaker == "caller"]
    assert [turn.text for turn in caller] == ["[redacted speech]", "[keys] [redacted 16 digits]"], said
    assert [i.name for i in d.intents] == ["digits"] and all(not i.slots for i in d.intents)
    for text in [turn.text for turn in d.turns] + [i.name for i in d.intents]:
        assert "4111" not in text.replace(" ", "") and "four" not in text, text
    for db_file in (payments.root / "var").glob("ivr.db*"):  # the database and its WAL, byte for byte
        assert CARD.encode() not in db_file.read_bytes(), db_file

    # Logs: keys and words of the step are masked; the pause and resume are logged.
    log = payments.log()
    assert CARD not in log and "four one one one" not in log
    assert log.count("DTMF [redacted] (rfc4733)") == len(CARD + "#")  # the '#' is part of the step too
    assert "DTMF 4" not in log and "DTMF 1 " not in log
    assert "recognized '[redacted speech]'" in log and "heard '[redacted speech]'" in log
    assert "sensitive step card; recording paused" in log and "sensitive step card is over; recording resumed" in log

    # The recording: one pause, listed in the sidecar, that covers the caller's words and keys ...
    (rec,) = d.recordings
    assert rec.status == "complete"
    side = json.loads(Path(rec.path + ".json").read_text())
    ((start, end),) = side["pauses"]
    assert rec.pauses == [(start, end)]  # the recordings row lists it too, for QA reviewers
    for turn in caller:  # the keys turn ends as the '#' is handled, just before the resume (frames sit within
        assert turn.start_offset is not None and turn.end_offset is not None  # 40 ms of their arrival time)
        assert start < turn.start_offset <= turn.end_offset < end + 0.04, (start, end, turn)
    answered = events(t, "answered")[0]["t"]
    keys_sent = events(t, "dtmf_sent")[0]["t"] - answered
    assert start < events(t, "play_start")[0]["t"] - answered and keys_sent + 0.25 * len(CARD) < end + 0.3
    # ... and is pure silence on both channels, though the IVR spoke in it (the caller heard it) ...
    frames = stereo(rec.path)
    paused = frames[round(start * RATE) : round(end * RATE)]
    assert len(paused) > 10 * RATE and not paused.any()
    caller_heard = heard.read_bytes()[44:]
    assert loud_seconds(caller_heard[2 * round((start + 0.5) * RATE) : 2 * round((end - 0.5) * RATE)]) > 3.0
    # ... while the greeting before it and the answer after it are in the recording.
    greeting = next(turn for turn in d.turns if turn.text == "Welcome to the Acme payment line.")
    assert greeting.start_offset is not None and greeting.start_offset < start
    right = np.ascontiguousarray(frames[:, 1]).tobytes()
    assert loud_seconds(right[: 2 * round(start * RATE)]) > 1.0  # "Welcome to the Acme payment line."
    assert loud_seconds(right[2 * round(end * RATE) :]) > 1.5  # "Thank you, your card was accepted. Goodbye."
