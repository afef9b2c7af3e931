"""Speech input of a call: caller audio -> endpointer -> recognizer -> events for the session.

The endpointer runs for the whole call, so barge-in works while prompts play and the audio
before an onset (leading padding) is kept. A recognizer stream is opened only for turns
that happen while the flow listens for speech, with the step's phrases as a grammar hint
and its VAD overrides applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from asr.endpointing import Endpointer, SpeechAudio, vad_overrides
from ivr.core.config import VadConfig
from ivr.core.errors import IvrError
from ivr.core.events import Event, Listen, SpeechEnded, SpeechStarted, Transcript
from ivr.core.interfaces import CallLeg, Grammar, Recognizer, RecognizerStream
from ivr.core.redact import REDACTED_SPEECH

log = logging.getLogger(__name__)


class CallSpeech:
    """The SpeechInput of FlowCall: one endpointer per call, one recognizer stream per turn."""

    def __init__(self, recognizer: Recognizer, vad: VadConfig) -> None:
        self.recognizer = recognizer
        self.vad = vad
        self.rate = recognizer.capabilities.sample_rate

    async def run(self, leg: CallLeg, emit: Callable[[Event], None], turn: Callable[[], Listen | None]) -> None:
        """Listen to the caller until hangup, emitting SpeechStarted, SpeechEnded and final Transcripts."""
        endpointer = Endpointer(leg.call_id, self.vad, self.rate, start_at=time.monotonic())
        applied: Listen | None = None
        stream: RecognizerStream | None = None
        secret = False  # the open turn answers a sensitive step: its words are never logged
        finals: set[asyncio.Task[None]] = set()
        try:
            async for chunk in leg.audio(self.rate):
                listen = turn()
                if listen is not applied and listen is not None:
                    applied = listen
                    self._apply_vad(endpointer, listen)
                for out in endpointer.push(chunk.pcm):
                    if isinstance(out, SpeechStarted):
                        emit(out)
                        if listen is not None and listen.speech:
                            stream = self._open(leg.call_id, listen)
                            secret = listen.sensitive
                    elif isinstance(out, SpeechAudio):
                        if stream is not None:
                            stream.push(out.pcm)
                    elif isinstance(out, SpeechEnded):
                        emit(out)
                        if stream is not None:
                            stream.end()
                            secret = secret or (listen is not None and listen.sensitive)
                            task = asyncio.create_task(self._final(stream, out, emit, time.monotonic(), secret))
                            finals.add(task)
                            task.add_done_callback(finals.discard)
                            stream = None
        finally:
            if stream is not None:
                stream.end()
            for task in finals:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*finals, return_exceptions=True)

    def _apply_vad(self, endpointer: Endpointer, listen: Listen) -> None:
        try:
            endpointer.reconfigure(vad_overrides(self.vad, **_vad_values(listen.vad)))
        except IvrError as exc:
            log.warning("call %s: VAD overrides %s not applied: %s", endpointer.call_id, dict(listen.vad), exc)

    def _open(self, call_id: str, listen: Listen) -> RecognizerStream:
        grammar = Grammar(name=listen.timer or "turn", phrases=listen.phrases) if listen.phrases else None
        return self.recognizer.stream(call_id, grammar)

    async def _final(
        self, stream: RecognizerStream, ended: SpeechEnded, emit: Callable[[Event], None], closed: float,
        secret: bool = False,
    ) -> None:
        async for result in stream:
            if result.final:
                # The turn closed after [vad] trailing_silence_ms of quiet; decoding took the rest.
                log.info("call %s recognized %r, decoded in %.0f ms after the turn closed", result.call_id,
                         REDACTED_SPEECH if secret else result.text, (time.monotonic() - closed) * 1000)  # fmt: skip
                emit(result)
                return
        emit(Transcript(ended.call_id, text="", final=True, at=time.monotonic()))


def _vad_values(pairs: tuple[tuple[str, float], ...]) -> dict[str, Any]:
    ints = {"aggressiveness", "frame_ms", "min_speech_ms", "leading_padding_ms", "trailing_silence_ms"}
    return {k: int(v) if k in ints else float(v) for k, v in pairs}
