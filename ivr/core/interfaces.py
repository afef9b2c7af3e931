"""Capability interfaces the parts meet through in `ivr.session`.

Each capability has an interface, a capabilities record and a per-call stream:
`recognizer.stream(call_id)`, then `push(frame)` and `end()`, then `async for event in stream`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ivr.core.events import AudioChunk, Event, Transcript


@dataclass(frozen=True)
class Grammar:
    """Phrases a recognizer should prefer (or, for engines with grammar mode, be limited to)."""

    name: str
    phrases: tuple[str, ...]
    strict: bool = False


# --- telephony ------------------------------------------------------------------------


@runtime_checkable
class CallLeg(Protocol):
    """One SIP call leg, seen from asyncio code."""

    call_id: str
    caller: str
    callee: str

    async def answer(self) -> None:
        """Send 200 OK and start media."""

    def events(self) -> AsyncIterator[Event]:
        """Call events in order: DtmfDigit, PlaybackStarted/Done, Hangup (always last)."""
        ...

    def audio(self, rate: int = 16000) -> AsyncIterator[AudioChunk]:
        """Inbound caller audio as 20 ms PCM16 frames at `rate` (8000 or 16000)."""
        ...

    def tap(self, rate: int = 16000) -> AsyncIterator[AudioChunk]:
        """Both directions ('in' caller, 'out' what the caller hears) for recording."""
        ...

    async def play(self, pcm: bytes, rate: int) -> str:
        """Queue PCM16 audio for the caller; returns a playback id (see PlaybackDone)."""
        ...

    async def stop_playback(self) -> None:
        """Cut all queued audio within one frame (barge-in)."""

    async def send_dtmf(self, digits: str) -> None:
        """Send DTMF digits to the far end (RFC 4733)."""

    async def hangup(self, reason: str = "") -> None:
        """End the call with BYE (or a final response if not yet answered)."""

    async def transfer(self, target: str, headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> int:
        """Blind transfer with REFER (headers also ride in Refer-To); returns the target's final status."""
        ...

    async def bridge(self, target: str, headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> CallLeg:
        """Dial `target` from the same worker and bridge its audio with this leg (B2BUA)."""
        ...


# --- speech recognition ---------------------------------------------------------------


@dataclass(frozen=True)
class RecognizerCapabilities:
    """What a recognizer engine can do."""

    engine: str
    language: str
    sample_rate: int
    grammar: bool = False
    partials: bool = False
    word_confidence: bool = False
    model: str = ""


class RecognizerStream(Protocol):
    """One utterance stream of one call."""

    def push(self, pcm: bytes) -> None:
        """Feed PCM16 mono at the recognizer's sample_rate."""

    def end(self) -> None:
        """No more audio; a final Transcript will follow."""

    def __aiter__(self) -> AsyncIterator[Transcript]: ...


class Recognizer(Protocol):
    """A loaded speech model; cheap per-call streams."""

    capabilities: RecognizerCapabilities

    def stream(self, call_id: str, grammar: Grammar | None = None) -> RecognizerStream:
        """Start recognizing one utterance."""
        ...


# --- speech synthesis -----------------------------------------------------------------


@dataclass(frozen=True)
class SynthesizerCapabilities:
    """What a synthesizer engine can do."""

    engine: str
    voices: tuple[str, ...] = ()
    sample_rates: tuple[int, ...] = (8000, 16000)
    extra: Mapping[str, str] = field(default_factory=dict)


class Synthesizer(Protocol):
    """Text to PCM16 at a call's rate."""

    capabilities: SynthesizerCapabilities

    async def synthesize(self, text: str, rate: int) -> bytes:
        """Whole text to PCM16 at `rate`."""
        ...

    def stream(self, text: str, rate: int) -> AsyncIterator[bytes]:
        """Sentence by sentence, so playback can start when the first sentence is ready."""
        ...
