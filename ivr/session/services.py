"""What a call needs from the rest of the product (voice, lookups, speech, transfer, journal), built once by the app."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ivr.core.events import Event, Listen, TransferRequested
from ivr.core.interfaces import CallLeg
from ivr.session.lookups import LookupSource

if TYPE_CHECKING:
    from ivr.session.flow_call import FlowCall
    from ivr.session.overload import OverloadGuard


class Voice(Protocol):
    """Text to PCM for prompts (CachedSynthesizer in production)."""

    async def say(self, text: str, rate: int) -> bytes: ...


class SpeechInput(Protocol):
    """Turns a call's audio into SpeechStarted and final Transcript events."""

    async def run(self, leg: CallLeg, emit: Callable[[Event], None], turn: Callable[[], Listen | None]) -> None: ...


class TransferHandler(Protocol):
    """Carries out a TransferRequested: queue the caller for an agent, or refer them elsewhere."""

    async def transfer(self, call: FlowCall, request: TransferRequested) -> None: ...


class CallJournal(Protocol):
    """Where a call's record goes (the database in production); every method returns at once.

    It also gets each SensitiveInput when it takes effect: pause the recording and mask the caller until `on=False`.
    """

    def event(self, call: FlowCall, event: Event) -> None: ...


@dataclass
class CallServices:
    """Everything a call needs from the rest of the product, built once by the app."""

    voice: Voice
    sources: Mapping[str, LookupSource]
    voicemail_dir: Path
    speech: SpeechInput | None = None
    transfer: TransferHandler | None = None
    journal: CallJournal | None = None
    overload: OverloadGuard | None = None  # this process's overload rule (keys instead of speech when saturated)
    extra: dict[str, Any] = field(default_factory=dict)
