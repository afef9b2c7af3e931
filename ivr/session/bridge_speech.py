"""BridgeSpeech: live transcripts of calls bridged to an agent, the caller and the agent each on their own channel.

While a caller talks to an agent, the media worker captures each leg's incoming audio (the caller's leg hears the
caller, the agent's leg the agent) and ships it up as it does the bot's caller audio. Each channel runs through its
own endpointer, as a bot turn does, and each segment of speech is decoded on the recognizer pool's background lane
(`asr.pool.DecodePool`): the same loaded model as the bot's turns, on threads a bot turn never waits for. Each
recognized segment becomes a BridgedTurn in the call's journal, which stores it as a turn (speaker caller or agent,
with its offsets) and publishes it on the CallBus, so the live transcript grows while the call is up.

Decoding can fall behind on a busy machine (every bridged call talks all the time; a bot turn only now and then).
Segments waiting beyond `[bridge_speech] max_backlog` are dropped, the oldest waiting first (never one being decoded),
and recorded as NOT_TRANSCRIBED, so a reviewer sees that someone spoke there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from asr.endpointing import Endpointer, SpeechAudio, vad_overrides
from ivr.core.config import BridgeSpeechConfig, VadConfig
from ivr.core.errors import IvrError
from ivr.core.events import AudioChunk, BridgedTurn, Event, SpeechEnded, SpeechStarted
from ivr.core.interfaces import Recognizer

log = logging.getLogger("ivr.bridge_speech")

NOT_TRANSCRIBED = "[not transcribed: the recognizers were busy]"


class Party(Protocol):
    """What is heard of one party: their call leg's incoming audio (a CallLeg is one)."""

    callee: str

    def audio(self, rate: int = 16000) -> AsyncIterator[AudioChunk]: ...


@dataclass(eq=False)
class _Segment:
    """One stretch of one party's speech, waiting for (or in) its decode."""

    speaker: str
    pcm: bytes
    start: float
    end: float
    task: asyncio.Task[None] | None = None
    dropped: bool = False


@dataclass(eq=False)
class BridgeTranscript:
    """The transcription of one bridged call; `stop()` when the bridge ends, then await `done`."""

    owner: BridgeSpeech
    call_id: str
    agent_id: str
    emit: Callable[[Event], None]
    listeners: list[asyncio.Task[None]] = field(default_factory=list)
    segments: set[_Segment] = field(default_factory=set)
    done: asyncio.Task[None] | None = None

    def stop(self) -> None:
        """The bridge is over: stop listening; what each party said last is still decoded."""
        for task in self.listeners:
            task.cancel()

    async def _listen(self, leg: Party, speaker: str) -> None:
        owner = self.owner
        endpointer = Endpointer(f"{self.call_id}-{speaker}", owner.vad, owner.rate, start_at=owner.clock())
        audio: list[bytes] = []
        began = 0.0

        def take(outputs: list[Any]) -> None:
            nonlocal began
            for out in outputs:
                if isinstance(out, SpeechStarted):
                    audio.clear()
                    began = out.at
                elif isinstance(out, SpeechAudio):
                    audio.append(out.pcm)
                elif isinstance(out, SpeechEnded):
                    self._decode(_Segment(speaker, b"".join(audio), began, out.at))
                    audio.clear()

        try:
            async for chunk in leg.audio(owner.rate):
                take(endpointer.push(chunk.pcm))
        finally:  # hangup or the bridge's end: the segment in progress is decoded too
            take(endpointer.flush())

    def _decode(self, segment: _Segment) -> None:
        segment.task = asyncio.create_task(self._recognize(segment), name=f"bridge-asr-{self.call_id}")
        self.segments.add(segment)
        segment.task.add_done_callback(lambda _: self.segments.discard(segment))
        self.owner._queued(segment)

    async def _recognize(self, segment: _Segment) -> None:
        owner = self.owner
        stream = owner.recognizer.stream(self.call_id)  # no grammar: people talk freely with an agent
        text, confidence = "", 0.0
        try:
            stream.push(segment.pcm)
            stream.end()
            async for result in stream:
                if result.final:
                    text, confidence = result.text.strip(), result.confidence
        except asyncio.CancelledError:
            cancel = getattr(stream, "cancel", None)
            if cancel is not None:
                cancel()  # a decode still waiting for a thread never runs
            if not segment.dropped:
                raise
            text, confidence = NOT_TRANSCRIBED, 0.0
        except IvrError as exc:
            log.error("call %s: %s speech not recognized: %s", self.call_id, segment.speaker, exc)
            return
        finally:
            owner._finished(segment)
        if not text:
            return  # noise, not words
        now = owner.clock()
        if not segment.dropped:  # what was said stays out of the log: a caller may give an agent their card number
            log.info("call %s: %s segment of %.1f s recognized %.0f ms after its end", self.call_id, segment.speaker,
                     segment.end - segment.start, (now - segment.end) * 1000)  # fmt: skip
        self.emit(BridgedTurn(self.call_id, speaker=segment.speaker, text=text, confidence=confidence,
                              start=segment.start, end=segment.end, agent_id=self.agent_id, at=now))  # fmt: skip

    async def _finish(self) -> None:
        try:
            await asyncio.gather(*self.listeners, return_exceptions=True)
            while self.segments:
                await asyncio.gather(*(s.task for s in list(self.segments) if s.task), return_exceptions=True)
        except asyncio.CancelledError:  # the call's record could wait no longer: record what is left as not heard
            for task in self.listeners:
                task.cancel()
            for segment in list(self.segments):
                self.owner._drop(segment)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*(s.task for s in list(self.segments) if s.task), return_exceptions=True)
            raise


class BridgeSpeech:
    """Transcribes calls bridged to agents, on a recognizer's background lane, within a process-wide backlog."""

    def __init__(
        self,
        recognizer: Recognizer,
        vad: VadConfig,
        config: BridgeSpeechConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or BridgeSpeechConfig()
        self.recognizer = recognizer
        self.vad = vad_overrides(vad, trailing_silence_ms=self.config.trailing_silence_ms)
        self.rate = recognizer.capabilities.sample_rate
        self.clock = clock
        self.dropped = 0  # segments dropped because decoding fell behind, since start
        # The recognizer's lane is first in, first out: its oldest segments are the ones being decoded now, and
        # dropping those would waste the work done and, when segments come faster than decodes, starve every one.
        self._running = max(1, int(getattr(recognizer, "threads", 1)))
        self._waiting: deque[_Segment] = deque()  # every call's segments in decoding, oldest first

    def start(self, call_id: str, caller: Party, agent: Party, *, agent_id: str = "",
              emit: Callable[[Event], None]) -> BridgeTranscript:  # fmt: skip
        """Start transcribing a bridged call; every recognized segment goes to `emit` as a BridgedTurn."""
        transcript = BridgeTranscript(self, call_id, agent_id, emit)
        transcript.listeners = [
            asyncio.create_task(transcript._listen(caller, "caller"), name=f"bridge-caller-{call_id}"),
            asyncio.create_task(transcript._listen(agent, "agent"), name=f"bridge-agent-{call_id}"),
        ]
        transcript.done = asyncio.create_task(transcript._finish(), name=f"bridge-speech-{call_id}")
        log.info("call %s: transcribing the caller and agent %s", call_id, agent_id or agent.callee)
        return transcript

    @classmethod
    def on_background(cls, recognizer: Recognizer, vad: VadConfig, config: BridgeSpeechConfig) -> BridgeSpeech:
        """Bridged speech on the background lane of the bot's recognizer (same model, lower priority)."""
        lane = getattr(recognizer, "background", None)
        if lane is None:
            log.warning("bridged speech: the %s recognizer has no background lane; it shares the bot's threads",
                        recognizer.capabilities.engine)  # fmt: skip
            return cls(recognizer, vad, config)
        return cls(lane(), vad, config)

    @property
    def backlog(self) -> int:
        """Bridged segments waiting for a recognizer thread (submitted, not being decoded), across calls."""
        return max(0, len(self._waiting) - self._running)

    def _queued(self, segment: _Segment) -> None:
        self._waiting.append(segment)
        while len(self._waiting) - self._running > self.config.max_backlog:
            oldest = self._waiting[self._running]  # the oldest that is waiting, not being decoded
            del self._waiting[self._running]
            log.warning("bridged speech: %d segments waiting for a recognizer; the oldest (%s, %.1f s) is dropped",
                        len(self._waiting) - self._running + 1, oldest.speaker, oldest.end - oldest.start)  # fmt: skip
            self._drop(oldest)

    def _drop(self, segment: _Segment) -> None:
        if segment.task is not None and not segment.task.done() and not segment.dropped:
            segment.dropped = True
            self.dropped += 1
            segment.task.cancel()

    def _finished(self, segment: _Segment) -> None:
        with contextlib.suppress(ValueError):
            self._waiting.remove(segment)
