"""StoreJournal: each call's durable record (call row, turns, intents, outcome, recording).

Everything goes through CallStore's write-behind queue, so nothing here waits on the database.
Turns carry offsets in seconds from the answer, which is also the recording's origin, so a
QA reviewer can jump from a turn to the audio. While a sensitive step runs (SensitiveInput)
the recording is paused and what the caller says is stored as REDACTED_SPEECH.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.core.config import RecordingsConfig
from ivr.core.events import (
    BridgedTurn,
    CallAnswered,
    DtmfDigit,
    Event,
    Hangup,
    IntentDetected,
    Play,
    Say,
    SensitiveInput,
    SpeechEnded,
    SpeechStarted,
    StepEntered,
    Transcript,
    VoicemailRecorded,
)
from ivr.core.interfaces import CallLeg
from ivr.core.redact import REDACTED_SPEECH
from ivr.storage import CallStore
from recordings import CallRecorder, RecordingError, RecordingInfo, record_tap

if TYPE_CHECKING:
    from ivr.session.flow_call import FlowCall

log = logging.getLogger(__name__)

RECORDING_RATE = 16000
# A call's record waits this long after the call for work still adding to it (bridged speech being decoded).
HOLD_SECONDS = 10.0


@dataclass
class _Trace:
    """What the journal remembers about a call until it ends."""

    origin: float | None = None  # monotonic answer time: offset 0 of turns and recording
    status: str = ""
    hangup: Hangup | None = None
    heard: Transcript | None = None  # a final transcript waiting for the intent it leads to
    first_key_at: float | None = None
    recording: asyncio.Task[RecordingInfo | None] | None = None
    last_intent: str = ""
    hangup_by: str = ""  # who really ended it, when not the caller's leg (e.g. the agent)
    fields: dict[str, Any] = field(default_factory=dict)
    sensitive_since: float | None = None  # a sensitive step runs: recording paused, caller speech masked
    recorder: CallRecorder | None = None
    # Where the caller's speech began and ended (the endpointer's audio clock): a final transcript comes only after
    # the trailing silence and the decode, seconds later, and a turn must start where its words are in the recording.
    speech_from: float | None = None
    spoken: tuple[float, float] | None = None  # the last utterance that ended
    heard_span: tuple[float, float] | None = None  # the span of `heard`
    speech_end: float | None = None  # the caller's latest end of speech (monotonic)
    awaiting: float | None = None  # end of speech of a turn the flow took, until the reply's first audio
    holds: list[asyncio.Task[Any]] = field(default_factory=list)  # work that still adds to the record


class StoreJournal:
    """CallJournal backed by CallStore, plus the call's recording (both directions, stereo)."""

    def __init__(
        self,
        store: CallStore,
        recordings: RecordingsConfig | None = None,
        *,
        root: str | Path = ".",
        executor: Executor | None = None,
    ) -> None:
        self.store = store
        self.recordings = recordings
        self.root = Path(root)
        self.executor = executor
        self.stopping = False  # set at shutdown: calls ended by it are 'interrupted'
        self._calls: dict[str, _Trace] = {}

    # --- called by the app and the transfer handler --------------------------------------

    def call_offered(self, leg: CallLeg, *, flow_name: str = "", flow_version: int | None = None) -> None:
        """A new inbound call (status 'ringing')."""
        self._calls[leg.call_id] = _Trace()
        self.store.call_started(
            leg.call_id,
            caller=leg.caller,
            callee=leg.callee,
            worker=str(getattr(leg, "worker", "")),
            flow_name=flow_name,
            flow_version=flow_version,
        )

    def set_outcome(self, call_id: str, status: str, *, hangup_by: str = "", **fields: Any) -> None:
        """How the call is ending ('' keeps it), e.g. 'transferred'; `fields` (queue, agent_id) are stored now."""
        trace = self._calls.get(call_id)
        if trace is not None:
            trace.status = status or trace.status
            trace.hangup_by = hangup_by or trace.hangup_by
        if fields:
            self.store.call_updated(call_id, **fields)

    def last_intent(self, call_id: str) -> str:
        """The intent of the caller's latest turn ('' before any)."""
        trace = self._calls.get(call_id)
        return trace.last_intent if trace else ""

    def hold(self, call_id: str, task: asyncio.Task[Any]) -> None:
        """Keep the call's record open after the call until `task` ends (at most HOLD_SECONDS; then it is cancelled)."""
        trace = self._calls.get(call_id)
        if trace is not None:
            trace.holds.append(task)

    async def call_finished(self, call: FlowCall) -> str:
        """After FlowCall.run(): close the recording, store it, and store the final status, which it returns."""
        trace = self._calls.get(call.call_id)
        if trace is None:
            return ""
        if trace.holds:  # e.g. the last words on a bridged call, still being decoded: they belong in the record
            # ... but a shutdown does not wait for them (decodes queued behind others could take long)
            _, late = await asyncio.wait(trace.holds, timeout=0 if self.stopping else HOLD_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self._calls.pop(call.call_id, None)
        self._flush_heard(call.call_id, trace)
        if trace.recording is not None:
            info = await trace.recording
            if info is not None:
                store_recording(self.store, info)
        hangup = trace.hangup or getattr(call.leg, "hangup_event", None)
        status = trace.status or _status(trace, hangup, self.stopping)
        self.store.call_ended(
            call.call_id,
            status,
            hangup_by=trace.hangup_by or (hangup.by if hangup else "ivr"),
            reason=hangup.reason if hangup else "",
            sip_code=hangup.sip_code if hangup else 0,
        )
        return status

    # --- CallJournal ---------------------------------------------------------------------

    def event(self, call: FlowCall, event: Event) -> None:
        """Take one call event or flow action; never waits."""
        trace = self._calls.get(call.call_id)
        if trace is None:
            return
        if not isinstance(event, IntentDetected | StepEntered):  # the intent of what was heard may follow these
            self._flush_heard(call.call_id, trace)
        if isinstance(event, CallAnswered):
            trace.origin = event.at or time.monotonic()
            self.store.call_answered(call.call_id)
            if self.recordings is not None and self.recordings.enabled:
                trace.recording = asyncio.create_task(self._record(call.leg, trace))
        elif isinstance(event, Say | Play):
            text = (event.redacted or event.text) if isinstance(event, Say) else f"[audio {Path(event.path).name}]"
            now = time.monotonic()
            # journaled when the prompt's audio is ready to play: the same measure as FloorStats' reply latency
            latency = None if trace.awaiting is None else round(max(0.0, now - trace.awaiting), 3)
            trace.awaiting = None
            self.store.add_turn(call.call_id, "ivr", text, start=self._offset(trace, now), reply_latency=latency)
        elif isinstance(event, SpeechStarted):
            trace.speech_from = event.at or time.monotonic()
        elif isinstance(event, SpeechEnded):
            trace.speech_end = event.at or time.monotonic()
            began = trace.speech_from if trace.speech_from is not None else trace.speech_end - event.duration
            trace.spoken, trace.speech_from = (began, trace.speech_end), None
        elif isinstance(event, Transcript):
            if event.final and event.text.strip() and call.listen is not None:
                trace.awaiting, trace.speech_end = trace.speech_end, None
            if event.final and event.text.strip():
                masked = trace.sensitive_since is not None or event.sensitive
                trace.heard = dataclasses.replace(event, text=REDACTED_SPEECH) if masked else event
                trace.heard_span, trace.spoken = trace.spoken, None
        elif isinstance(event, SensitiveInput):
            self._sensitive(trace, event.on)
        elif isinstance(event, DtmfDigit):
            if trace.first_key_at is None:
                trace.first_key_at = event.at or time.monotonic()
        elif isinstance(event, IntentDetected):
            self._intent(call.call_id, trace, event)
        elif isinstance(event, Hangup):
            trace.hangup = event
        elif isinstance(event, VoicemailRecorded) and event.path:
            trace.status = "voicemail"
        elif isinstance(event, BridgedTurn):
            self.store.add_turn(call.call_id, event.speaker, event.text, confidence=event.confidence,
                                start=self._offset(trace, event.start), end=self._offset(trace, event.end))  # fmt: skip

    # --- internals -----------------------------------------------------------------------

    @staticmethod
    def _sensitive(trace: _Trace, on: bool) -> None:
        now = time.monotonic()  # the clock of the tap's frames: the pause covers what arrives from now on
        trace.sensitive_since = now if on else None
        if trace.recorder is None:
            return  # not created yet: `_record` pauses it at once if this is still on
        if on:
            trace.recorder.pause(at=now)
        else:
            trace.recorder.resume(at=now)

    def _intent(self, call_id: str, trace: _Trace, event: IntentDetected) -> None:
        now = time.monotonic()
        if event.source == "dtmf":
            start = trace.first_key_at or now
            text, confidence, end = f"[keys] {event.text}", 1.0, now
        elif trace.heard is not None:
            heard, trace.heard = trace.heard, None
            text, confidence = heard.text, heard.confidence
            start, end = trace.heard_span or _speech_span(heard, now)
            trace.heard_span = None
        else:
            start, text, confidence, end = now, event.text, event.confidence, now
        trace.first_key_at = None
        uid = self.store.add_turn(
            call_id,
            "caller",
            text,
            confidence=confidence,
            start=self._offset(trace, start),
            end=self._offset(trace, end),
            intent=event.intent,
            intent_score=event.confidence,
        )
        if event.intent:
            trace.last_intent = event.intent
            self.store.add_intent(
                call_id, event.intent, event.confidence, turn_uid=uid, step=event.step, source=event.source
            )

    def _flush_heard(self, call_id: str, trace: _Trace) -> None:
        """A final transcript no intent followed (e.g. said while nothing was asked): store it as is."""
        heard, trace.heard = trace.heard, None
        span, trace.heard_span = trace.heard_span, None
        if heard is not None:
            start, end = span or _speech_span(heard, time.monotonic())
            self.store.add_turn(
                call_id,
                "caller",
                heard.text,
                confidence=heard.confidence,
                start=self._offset(trace, start),
                end=self._offset(trace, end),
            )

    @staticmethod
    def _offset(trace: _Trace, at: float) -> float | None:
        return None if trace.origin is None else round(max(0.0, at - trace.origin), 3)

    async def _record(self, leg: CallLeg, trace: _Trace) -> RecordingInfo | None:
        cfg = self.recordings
        assert cfg is not None
        loop = asyncio.get_running_loop()
        origin = trace.origin
        try:
            # File creation (mkdir, fsynced sidecar) is blocking I/O: not on the loop. Audio from
            # before the tap starts is written as silence, keeping the file aligned with `origin`.
            recorder = await loop.run_in_executor(
                self.executor, lambda: CallRecorder.for_call(cfg, leg.call_id, root=self.root, origin=origin)
            )
        except RecordingError as exc:
            log.error("call %s is not recorded: %s", leg.call_id, exc)
            return None
        trace.recorder = recorder
        if trace.sensitive_since is not None:  # the flow started with a sensitive step
            recorder.pause(at=trace.sensitive_since)
        return await record_tap(leg.tap(RECORDING_RATE), recorder, self.executor)


def store_recording(store: CallStore, info: RecordingInfo) -> None:
    """Store a closed (or repaired) recording with its checksum and PCI pauses (write-behind: never waits)."""
    store.add_recording(
        info.call_id,
        info.path,
        duration=info.duration,
        channels=info.channels,
        sample_rate=info.sample_rate,
        sha256=info.sha256,
        size_bytes=info.size_bytes,
        encrypted=info.encrypted,
        status=info.status,
        pauses=info.pauses,
    )


def _status(trace: _Trace, hangup: Hangup | None, stopping: bool) -> str:
    if stopping or (hangup is not None and hangup.by == "system"):
        return "interrupted"
    if trace.origin is None:
        return "abandoned"  # the caller hung up before the IVR answered
    return "completed"


def _speech_span(heard: Transcript, now: float) -> tuple[float, float]:
    """Start and end (monotonic) of an utterance: from its words when the engine gave them."""
    end = heard.at or now
    if heard.words:
        length = heard.words[-1].end - heard.words[0].start
        return end - max(0.0, length), end
    return end, end
