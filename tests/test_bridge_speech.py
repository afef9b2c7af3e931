"""BridgeSpeech's own logic with a fake leg and recognizer: one turn per segment of speech, per channel, and
segments past the backlog dropped, the oldest waiting first (recorded as not transcribed).
Real SIP: tests/e2e/test_bridge_speech.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from asr.corpus import DigitTake, data_dir
from ivr.core.audio import resample
from ivr.core.config import BridgeSpeechConfig, VadConfig
from ivr.core.events import AudioChunk, BridgedTurn, Event, Transcript
from ivr.core.interfaces import Grammar, RecognizerCapabilities
from ivr.session.bridge_speech import NOT_TRANSCRIBED, BridgeSpeech

RATE = 16000


def _speech(*digits: str) -> bytes:
    """FSDD digits at 16 kHz, each followed by a second of silence (one segment each)."""
    out = b""
    for d in digits:
        take = DigitTake(data_dir() / "fsdd" / f"{d}_george_0.wav", int(d), "george")
        out += resample(take.pcm(), 8000, RATE) + bytes(2 * RATE)
    return bytes(2 * RATE // 2) + out


@dataclass
class _Leg:
    call_id: str
    pcm: bytes = b""
    callee: str = "sip:agent@127.0.0.1"
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def audio(self, rate: int = RATE) -> AsyncIterator[AudioChunk]:
        n = rate // 50 * 2
        for i in range(0, len(self.pcm) - n + 1, n):
            yield AudioChunk(self.call_id, pcm=self.pcm[i : i + n], rate=rate)
            await asyncio.sleep(0)
        self.done.set()  # then the call goes on, quiet, until the bridge ends
        await asyncio.Event().wait()


class _Stream:
    def __init__(self, owner: _Recognizer) -> None:
        self.owner, self.pcm, self.cancelled = owner, b"", False

    def push(self, pcm: bytes) -> None:
        self.pcm += pcm

    def end(self) -> None:
        pass

    def cancel(self) -> None:
        self.cancelled = True

    async def __aiter__(self) -> AsyncIterator[Transcript]:
        await self.owner.release.wait()  # every decode waits: the recognizers are busy
        yield Transcript("c1", text=f"{len(self.pcm) // 2 / RATE:.1f} seconds", final=True, confidence=0.9)


class _Recognizer:
    capabilities = RecognizerCapabilities(engine="fake", language="en", sample_rate=RATE)

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.streams: list[_Stream] = []

    def stream(self, call_id: str, grammar: Grammar | None = None) -> _Stream:
        self.streams.append(_Stream(self))
        return self.streams[-1]


def test_each_party_gets_a_turn_per_segment_and_the_oldest_waiting_past_the_backlog_is_dropped() -> None:
    async def run() -> list[Event]:
        recognizer = _Recognizer()
        speech = BridgeSpeech(recognizer, VadConfig(), BridgeSpeechConfig(max_backlog=2))
        caller, agent = _Leg("c1", _speech("1", "2", "3")), _Leg("c1-agent", _speech("4"))
        emitted: list[Event] = []
        transcript = speech.start("c1", caller, agent, agent_id="ann", emit=emitted.append)
        await asyncio.wait_for(asyncio.gather(caller.done.wait(), agent.done.wait()), 10)
        assert len(recognizer.streams) == 4 and speech.backlog == 2  # 4 segments: 1 decoding, 2 waiting at most
        assert speech.dropped == 1
        transcript.stop()
        recognizer.release.set()
        assert transcript.done is not None
        await asyncio.wait_for(transcript.done, 5)
        assert speech.backlog == 0
        assert sum(s.cancelled for s in recognizer.streams) == 1  # a dropped decode never runs
        return emitted

    emitted = asyncio.run(run())
    turns = [e for e in emitted if isinstance(e, BridgedTurn)]
    assert len(turns) == 4 and all(t.call_id == "c1" and t.agent_id == "ann" for t in turns)
    dropped = [t for t in turns if t.text == NOT_TRANSCRIBED]
    heard = [t for t in turns if t.text != NOT_TRANSCRIBED]
    assert len(dropped) == 1 and dropped[0].confidence == 0.0
    assert sorted(t.speaker for t in turns) == ["agent", "caller", "caller", "caller"]  # a turn per segment
    assert all(0.3 < float(t.text.split()[0]) < 2.5 and 0.2 < t.end - t.start < 1.5 for t in heard)
    by_end = sorted(turns, key=lambda t: t.end)
    # the oldest waiting went first; the oldest of all was being decoded, and finished
    assert [t.text == NOT_TRANSCRIBED for t in by_end] == [False, True, False, False]
