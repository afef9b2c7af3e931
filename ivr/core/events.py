"""The one event vocabulary of a call: small frozen dataclasses with a `kind` tag.

Urgent events (Hangup, DtmfDigit, BargeIn, Cancel) jump the queue of a call session;
ordered ones (AudioChunk, Transcript, Say, Play, ...) keep their order. The web console's
live feed serializes these same events with `to_dict`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

_KINDS: dict[str, type[Event]] = {}


@dataclass(frozen=True)
class Event:
    """Base of every call event; `at` is `time.monotonic()` when it happened."""

    kind: ClassVar[str] = "event"
    urgent: ClassVar[bool] = False

    call_id: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _KINDS[cls.kind] = cls

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, tagged with `kind`; bytes fields are left out."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bytes | bytearray):
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def event_from_dict(data: dict[str, Any]) -> Event:
    """Inverse of `Event.to_dict` for events without binary payloads."""
    data = dict(data)
    cls = _KINDS[data.pop("kind")]
    names = {f.name: f for f in dataclasses.fields(cls)}
    args: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in names}
    return cls(**args)


# --- call lifecycle -------------------------------------------------------------------


@dataclass(frozen=True)
class CallOffered(Event):
    """A new inbound call reached a media worker and is ringing."""

    kind: ClassVar[str] = "call_offered"
    caller: str = ""
    callee: str = ""
    worker: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    at: float = 0.0


@dataclass(frozen=True)
class CallAnswered(Event):
    """The call is connected and media flows; `codec` is what was negotiated."""

    kind: ClassVar[str] = "call_answered"
    codec: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class Hangup(Event):
    """The call ended. `by` is 'caller', 'ivr', 'agent' or 'system' (worker died, shutdown)."""

    kind: ClassVar[str] = "hangup"
    urgent: ClassVar[bool] = True
    by: str = "caller"
    reason: str = ""
    sip_code: int = 0
    at: float = 0.0


@dataclass(frozen=True)
class DtmfDigit(Event):
    """One DTMF digit from the caller; `method` is 'rfc4733' or 'info'."""

    kind: ClassVar[str] = "dtmf"
    urgent: ClassVar[bool] = True
    digit: str = ""
    method: str = "rfc4733"
    at: float = 0.0


@dataclass(frozen=True)
class BargeIn(Event):
    """The caller interrupted a prompt (speech onset or DTMF)."""

    kind: ClassVar[str] = "barge_in"
    urgent: ClassVar[bool] = True
    cause: str = "speech"
    at: float = 0.0


@dataclass(frozen=True)
class Cancel(Event):
    """Abandon whatever the call session is doing (shutdown, supervisor action)."""

    kind: ClassVar[str] = "cancel"
    urgent: ClassVar[bool] = True
    reason: str = ""


@dataclass(frozen=True)
class Timeout(Event):
    """A timer the flow asked for has fired."""

    kind: ClassVar[str] = "timeout"
    name: str = ""
    at: float = 0.0


# --- media ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AudioChunk(Event):
    """16-bit mono little-endian PCM; `direction` is 'in' (caller) or 'out' (what the caller hears)."""

    kind: ClassVar[str] = "audio"
    pcm: bytes = b""
    rate: int = 16000
    direction: str = "in"
    at: float = 0.0


@dataclass(frozen=True)
class PlaybackStarted(Event):
    """Queued audio began to reach the caller."""

    kind: ClassVar[str] = "playback_started"
    playback_id: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class PlaybackDone(Event):
    """Queued audio finished, or was cut short (`interrupted`) by stop_playback."""

    kind: ClassVar[str] = "playback_done"
    playback_id: str = ""
    interrupted: bool = False
    at: float = 0.0


@dataclass(frozen=True)
class SpeechStarted(Event):
    """Voice activity detection saw the caller start speaking at `at` (audio time)."""

    kind: ClassVar[str] = "speech_started"
    at: float = 0.0


@dataclass(frozen=True)
class SpeechEnded(Event):
    """The endpointer decided the caller's turn ended; `at` is the real end of speech."""

    kind: ClassVar[str] = "speech_ended"
    at: float = 0.0
    duration: float = 0.0


@dataclass(frozen=True)
class WordInfo:
    """One recognized word with its confidence and offsets in seconds from stream start."""

    word: str
    confidence: float
    start: float = 0.0
    end: float = 0.0


@dataclass(frozen=True)
class Transcript(Event):
    """A partial or final recognition result."""

    kind: ClassVar[str] = "transcript"
    text: str = ""
    final: bool = False
    confidence: float = 0.0
    words: tuple[WordInfo, ...] = ()
    engine: str = ""
    at: float = 0.0
    sensitive: bool = False  # heard while a sensitive step listened: never log or store the text

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["words"] = [dataclasses.asdict(w) for w in self.words]
        return out


# --- what the IVR does -----------------------------------------------------------------


@dataclass(frozen=True)
class Say(Event):
    """Speak `text` to the caller."""

    kind: ClassVar[str] = "say"
    text: str = ""
    barge_in: bool = True
    redacted: str = ""  # what records and logs show instead of `text` when it reads back sensitive input


@dataclass(frozen=True)
class Play(Event):
    """Play an audio file to the caller."""

    kind: ClassVar[str] = "play"
    path: str = ""
    barge_in: bool = True


@dataclass(frozen=True)
class TransferRequested(Event):
    """The flow wants the call to reach a queue or a SIP URI."""

    kind: ClassVar[str] = "transfer"
    target: str = ""
    queue: str = ""
    priority: int = 0
    skills: tuple[str, ...] = ()
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = field(default=())


# --- flow actions and their answers ------------------------------------------------------
# The flow runner emits Say, Play, Listen, HttpRequest, LookupRequest, RecordVoicemail,
# TransferRequested, HangupRequested and SensitiveInput; the call session carries them out in order and
# answers with Transcript (final), DtmfDigit, Timeout, HttpResult, LookupResult,
# VoicemailRecorded and Hangup.


@dataclass(frozen=True)
class StepEntered(Event):
    """The call's flow moved to `step`, where it now waits (for the caller, an answer, a transfer or the end)."""

    kind: ClassVar[str] = "step_entered"
    step: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class Listen(Event):
    """Wait for caller input after the queued prompts; send Timeout(name=timer) after `timeout` s of silence."""

    kind: ClassVar[str] = "listen"
    timer: str = ""
    timeout: float = 5.0
    speech: bool = True
    dtmf: bool = True
    max_digits: int = 1
    terminator: str = ""
    inter_digit_timeout: float = 3.0
    barge_in: bool = True
    phrases: tuple[str, ...] = ()
    vad: tuple[tuple[str, float], ...] = ()
    sensitive: bool = False  # the answer is sensitive: never log or store what the caller says or keys


@dataclass(frozen=True)
class SensitiveInput(Event):
    """A sensitive step (card digits) starts (`on`) or ends: pause the recording and mask the caller meanwhile."""

    kind: ClassVar[str] = "sensitive_input"
    on: bool = True
    step: str = ""


@dataclass(frozen=True)
class HttpRequest(Event):
    """Call a business system; answer with HttpResult carrying the same `request_id`."""

    kind: ClassVar[str] = "http_request"
    request_id: str = ""
    method: str = "GET"
    url: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    timeout: float = 3.0
    retries: int = 0


@dataclass(frozen=True)
class HttpResult(Event):
    """Outcome of an HttpRequest: `status` 0 with `error` set when no response came back."""

    kind: ClassVar[str] = "http_result"
    request_id: str = ""
    status: int = 0
    body: str = ""
    error: str = ""
    attempts: int = 1


@dataclass(frozen=True)
class LookupRequest(Event):
    """Look `key` up in the named data source (e.g. 'orders'); answer with LookupResult."""

    kind: ClassVar[str] = "lookup_request"
    request_id: str = ""
    source: str = ""
    key: str = ""


@dataclass(frozen=True)
class LookupResult(Event):
    """Outcome of a LookupRequest: `record` is a JSON object text when `found`."""

    kind: ClassVar[str] = "lookup_result"
    request_id: str = ""
    found: bool = False
    record: str = ""
    error: str = ""


@dataclass(frozen=True)
class RecordVoicemail(Event):
    """Record the caller into `mailbox` after a beep; answer with VoicemailRecorded."""

    kind: ClassVar[str] = "record_voicemail"
    request_id: str = ""
    mailbox: str = ""
    max_seconds: float = 120.0
    beep: bool = True
    finish_digits: str = "#"


@dataclass(frozen=True)
class VoicemailRecorded(Event):
    """A voicemail finished (caller pressed a finish digit, went silent or hit max_seconds)."""

    kind: ClassVar[str] = "voicemail_recorded"
    request_id: str = ""
    path: str = ""
    duration: float = 0.0


@dataclass(frozen=True)
class HangupRequested(Event):
    """The flow ended the call: hang up once the queued prompts have played."""

    kind: ClassVar[str] = "hangup_requested"
    reason: str = ""


@dataclass(frozen=True)
class IntentDetected(Event):
    """What the flow understood from one caller turn, for the transcript store and live feed."""

    kind: ClassVar[str] = "intent_detected"
    step: str = ""
    text: str = ""
    intent: str = ""
    confidence: float = 0.0
    ranked: tuple[tuple[str, float], ...] = ()
    source: str = "speech"


@dataclass(frozen=True)
class BridgedTurn(Event):
    """What the caller or the agent said on a call bridged to an agent, recognized on that party's own channel.

    `start` and `end` are when the speech began and ended (monotonic, like `at`, which is when it was recognized).
    """

    kind: ClassVar[str] = "bridged_turn"
    speaker: str = "caller"  # 'caller' or 'agent'
    text: str = ""
    confidence: float = 0.0
    start: float = 0.0
    end: float = 0.0
    agent_id: str = ""
    at: float = 0.0
