"""Speech input of a call: caller audio -> endpointer -> recognizer -> events for the session.

The endpointer runs for the whole call, so barge-in works while prompts play and the audio
before an onset (leading padding) is kept. A recognizer stream is opened only for turns
that happen while the flow listens for speech, with the step's phrases as a grammar hint
and its VAD overrides applied.

A turn normally ends after `[vad] trailing_silence_ms` of quiet. An engine without streaming
partials (Whisper, PocketSphinx) only hears the turn when it is decoded, so the decode starts
early, after `early_decode_ms` of quiet, on the audio so far; speech that resumes discards it.
If that early result is a complete answer to the step (all the digits it asks for, or one of its
phrases), the turn ends after only `complete_silence_ms` (VoiceXML's completetimeout); otherwise
the early result is still used when the full trailing silence ends, so the caller never waits for
a decode that could have run during the pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from asr.endpointing import Endpointer, EndpointState, SpeechAudio, vad_overrides
from asr.phrases import NUMBER_WORDS, PhraseMatcher
from ivr.core.config import VadConfig
from ivr.core.errors import IvrError
from ivr.core.events import Event, Listen, SpeechEnded, SpeechStarted, Transcript
from ivr.core.interfaces import CallLeg, Grammar, Recognizer, RecognizerStream
from ivr.core.redact import REDACTED_SPEECH
from ivr.session.overload import DecodeLoad

log = logging.getLogger(__name__)

# A streaming engine's partial must stay the same this long (Vosk updates it every 200 ms of audio)
# before it counts as a complete answer: on a poor line Vosk's partials flip between phrases.
_STABLE_PARTIAL_S = 0.25


class _Turn:
    """A caller turn the flow listens to: its audio and the decodes of it."""

    def __init__(self, listen: Listen, stream: RecognizerStream | None) -> None:
        self.listen = listen
        self.stream = stream  # streaming engines hear the audio as it comes
        self.audio: list[bytes] = []  # the rest decode it at once, early or at the end
        self.early: asyncio.Task[Transcript] | None = None
        self.early_upto = 0.0  # the endpointer's speech end when the early decode started
        self.partial = ""  # a streaming engine's latest partial result
        self.partial_at = 0.0  # when it last changed
        self.reader: asyncio.Task[Transcript] | None = None  # reads a streaming engine's results

    def early_valid(self, speech_end: float) -> bool:
        """True if the early decode heard all the speech of the turn (the caller did not go on)."""
        return self.early is not None and abs(self.early_upto - speech_end) < 1e-9


class CallSpeech:
    """The SpeechInput of FlowCall: one endpointer per call, one recognizer stream per turn."""

    def __init__(self, recognizer: Recognizer, vad: VadConfig, load: DecodeLoad | None = None) -> None:
        self.recognizer = recognizer
        self.vad = vad
        self.load = load  # counts the whole-turn decodes for the overload rule (ivr.session.overload)
        self.rate = recognizer.capabilities.sample_rate
        self._streaming = recognizer.capabilities.partials

    async def run(self, leg: CallLeg, emit: Callable[[Event], None], turn: Callable[[], Listen | None]) -> None:
        """Listen to the caller until hangup, emitting SpeechStarted, SpeechEnded and final Transcripts."""
        endpointer = Endpointer(leg.call_id, self.vad, self.rate, start_at=time.monotonic())
        applied: Listen | None = None
        current: _Turn | None = None
        finals: set[asyncio.Task[Any]] = set()

        def spawn(coro: Any) -> asyncio.Task[Any]:
            task = asyncio.create_task(coro)
            finals.add(task)
            task.add_done_callback(finals.discard)
            return task

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
                            current = _Turn(listen, self._open(leg.call_id, listen) if self._streaming else None)
                            if current.stream is not None:
                                current.reader = spawn(self._read(current, leg.call_id))
                    elif isinstance(out, SpeechAudio):
                        if current is not None:
                            if current.stream is not None:
                                current.stream.push(out.pcm)
                            else:
                                current.audio.append(out.pcm)
                    elif isinstance(out, SpeechEnded):
                        emit(out)
                        if current is not None:
                            spawn(self._final(current, out, emit, endpointer.end_reason))
                            current = None
                if current is not None and endpointer.state is EndpointState.STOPPING:
                    if self._complete(current, endpointer, leg.call_id, spawn):
                        for out in endpointer.end_turn("complete"):
                            assert isinstance(out, SpeechEnded)
                            emit(out)
                            spawn(self._final(current, out, emit, "complete"))
                        current = None
        finally:
            if current is not None and current.stream is not None:  # the call ended mid-turn: nobody reads it
                _drop(current.stream)
            for task in finals:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*finals, return_exceptions=True)

    def _complete(self, turn: _Turn, endpointer: Endpointer, call_id: str, spawn: Callable[[Any], Any]) -> bool:
        """During a pause: True when the turn may end now, as what was heard is a complete answer.

        A streaming engine judges by its latest partial; for the others the early decode starts here.
        """
        vad = endpointer.config
        silence = endpointer.silence_ms
        complete_ms = min(vad.complete_silence_ms, vad.trailing_silence_ms)
        if turn.stream is not None:  # a partial that still flips between phrases is no answer yet
            stable = time.monotonic() - turn.partial_at >= _STABLE_PARTIAL_S
            return silence >= complete_ms and stable and is_complete(turn.partial, turn.listen)
        if not turn.early_valid(endpointer.speech_end):
            # none yet, or the caller went on: decode the audio so far instead of what they said before
            if silence >= min(vad.early_decode_ms, vad.trailing_silence_ms):
                if turn.early is not None:
                    turn.early.cancel()  # stale; if it still waits for a decode thread, it never runs
                turn.early_upto = endpointer.speech_end
                turn.early = spawn(self._decode(call_id, turn.listen, b"".join(turn.audio)))
            return False
        assert turn.early is not None
        if not turn.early.done() or turn.early.cancelled() or turn.early.exception() is not None:
            return False
        return silence >= complete_ms and is_complete(turn.early.result().text, turn.listen)

    async def _read(self, turn: _Turn, call_id: str) -> Transcript:
        assert turn.stream is not None
        async for result in turn.stream:
            if result.final:
                return result
            if result.text != turn.partial:
                turn.partial, turn.partial_at = result.text, time.monotonic()
        return Transcript(call_id, text="", final=True, at=time.monotonic())

    async def _decode(self, call_id: str, listen: Listen, pcm: bytes) -> Transcript:
        stream = self._open(call_id, listen)
        stream.push(pcm)
        stream.end()
        token = self.load.begin() if self.load is not None else None
        completed = False
        try:
            async for result in stream:
                if result.final:
                    completed = True
                    return result
        except asyncio.CancelledError:
            _drop(stream)
            raise
        finally:
            if self.load is not None and token is not None:
                self.load.end(token, completed)
        return Transcript(call_id, text="", final=True, at=time.monotonic())

    def _apply_vad(self, endpointer: Endpointer, listen: Listen) -> None:
        try:
            endpointer.reconfigure(vad_overrides(self.vad, **_vad_values(listen.vad)))
        except IvrError as exc:
            log.warning("call %s: VAD overrides %s not applied: %s", endpointer.call_id, dict(listen.vad), exc)

    def _open(self, call_id: str, listen: Listen) -> RecognizerStream:
        grammar = Grammar(name=listen.timer or "turn", phrases=listen.phrases) if listen.phrases else None
        return self.recognizer.stream(call_id, grammar)

    async def _final(self, turn: _Turn, ended: SpeechEnded, emit: Callable[[Event], None], why: str) -> None:
        text = REDACTED_SPEECH if turn.listen.sensitive else None  # a sensitive answer is never logged
        emit = _marking_sensitive(emit) if turn.listen.sensitive else emit
        if turn.stream is not None and turn.reader is not None:
            turn.stream.end()
            result = await turn.reader
            log.info("call %s recognized %r %.0f ms after the end of speech (streaming, turn ended on %s)",
                     result.call_id, text or result.text, (time.monotonic() - ended.at) * 1000,
                     "a complete answer" if why == "complete" else why)  # fmt: skip
            emit(result)
            return
        early = turn.early_valid(ended.at)
        task = turn.early if early and turn.early is not None else None
        if task is None and turn.early is not None:
            turn.early.cancel()  # it heard only part of the turn
        if task is None:
            task = asyncio.ensure_future(self._decode(ended.call_id, turn.listen, b"".join(turn.audio)))
        result = await task
        # ended.at is audio time, which the endpointer keeps on the monotonic clock the call started on
        log.info("call %s recognized %r %.0f ms after the end of speech (%s decode, turn ended on %s)",
                 result.call_id, text or result.text, (time.monotonic() - ended.at) * 1000,
                 "early" if early else "full", "a complete answer" if why == "complete" else why)  # fmt: skip
        emit(result)


def _drop(stream: RecognizerStream) -> None:
    """Stop a stream whose result nobody will read: ExecutorStream.cancel() also drops a queued decode."""
    cancel = getattr(stream, "cancel", None)
    if cancel is not None:
        cancel()
    else:
        stream.end()


def _marking_sensitive(emit: Callable[[Event], None]) -> Callable[[Event], None]:
    """`emit` for a sensitive turn: its Transcript says so, even if it arrives after the step ended."""

    def marked(event: Event) -> None:
        emit(dataclasses.replace(event, sensitive=True) if isinstance(event, Transcript) else event)

    return marked


@lru_cache(maxsize=64)
def _matcher(phrases: tuple[str, ...]) -> PhraseMatcher:
    return PhraseMatcher(phrases)


def is_complete(text: str, listen: Listen) -> bool:
    """True if `text` fully answers the step: all the digits it asks for, or a sequence of its phrases."""
    if not text or not listen.phrases:
        return False
    phrases = _matcher(listen.phrases).parse(text)
    if not phrases:
        return False
    if listen.max_digits > 1 and all(p in NUMBER_WORDS or p == "oh" for p in phrases):
        return len(phrases) >= listen.max_digits
    return True


def _vad_values(pairs: tuple[tuple[str, float], ...]) -> dict[str, Any]:
    ints = {"aggressiveness", "frame_ms", "min_speech_ms", "leading_padding_ms", "trailing_silence_ms",
            "complete_silence_ms", "early_decode_ms"}  # fmt: skip
    return {k: int(v) if k in ints else float(v) for k, v in pairs}
