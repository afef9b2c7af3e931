"""Test calls without a phone for the console: the test panel's moves and replays of recorded calls.

A test call's whole state is the runner's RunState (plain JSON), which the browser keeps and sends back, so
the server holds nothing between moves. Lookups are answered as on real calls (the caller's order from the
database); HTTP steps are never called from here: the test panel answers them by hand, a replay answers error.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any

from flows import FlowRunner, RunState
from flows.model import CollectStep, HttpStep
from flows.state import LISTENING, WAITING
from ivr.core.errors import FlowError
from ivr.core.events import (
    DtmfDigit,
    Event,
    Hangup,
    HangupRequested,
    HttpRequest,
    HttpResult,
    IntentDetected,
    Listen,
    LookupRequest,
    LookupResult,
    Play,
    RecordVoicemail,
    Say,
    Timeout,
    Transcript,
    TransferRequested,
    VoicemailRecorded,
)
from ivr.web.flow_models import SimEvent, SimResult

Lookup = Callable[[LookupRequest], Awaitable[LookupResult]]
REPLAY_HTTP_ERROR = "not called during a replay"


class SimError(FlowError):
    """A test-panel move that cannot be applied (no call started, nothing to answer)."""


class TestCall:
    """One call driven by the console: caller moves in, everything the IVR did out."""

    def __init__(self, runner: FlowRunner, lookup: Lookup, *, call_id: str = "console-1", answer_http: bool = False):
        self.runner = runner
        self.lookup = lookup
        self.call_id = call_id
        self.answer_http = answer_http  # replays answer HTTP steps with an error; the test panel waits
        self.state: RunState | None = None
        self.log: list[Event] = []

    async def start(self, variables: dict[str, Any] | None = None) -> list[Event]:
        """Answer the call: the greeting and the first prompt."""
        self.state, actions = self.runner.start(self.call_id, {"caller": "console", **(variables or {})})
        return await self._settle(actions)

    def resume(self, data: dict[str, Any]) -> str:
        """Continue a call from a state the browser kept; '' or a note when the flow was edited meanwhile."""
        try:
            state = RunState.from_dict(data)
        except TypeError as exc:
            raise SimError(f"the test call's state is not valid ({exc}); start a new test call") from None
        note = ""
        if state.flow_version != self.runner.flow.version:
            if state.step not in self.runner.flow.steps:
                raise SimError(f"the flow was edited and step '{state.step}' is gone; start a new test call")
            state = dataclasses.replace(state, flow_version=self.runner.flow.version, call_id=self.call_id)
            note = "The YAML changed since the last move: the call goes on with your edited flow."
        self.state = dataclasses.replace(state, call_id=self.call_id)
        return note

    def _current(self) -> RunState:
        if self.state is None:
            raise SimError("start a test call first")
        return self.state

    async def send(self, event: Event) -> list[Event]:
        """Feed one event; every action up to the next wait for the caller."""
        self.state, actions = self.runner.handle(self._current(), event)
        return await self._settle(actions)

    async def _settle(self, actions: list[Event]) -> list[Event]:
        out: list[Event] = []
        queue = list(actions)
        while queue:
            action = queue.pop(0)
            out.append(action)
            answer: Event | None = None
            if isinstance(action, LookupRequest):
                answer = await self.lookup(action)
            elif isinstance(action, RecordVoicemail):
                answer = VoicemailRecorded(
                    self.call_id,
                    request_id=action.request_id,
                    path=f"voicemail/{action.mailbox}/{self.call_id}.wav",
                    duration=0.0,
                )
            elif isinstance(action, HttpRequest) and self.answer_http:
                answer = HttpResult(self.call_id, request_id=action.request_id, status=0, error=REPLAY_HTTP_ERROR)
            if answer is not None:
                out.append(answer)
                self.state, more = self.runner.handle(self._current(), answer)
                queue = more + queue
        self.log += out
        return out

    async def say(self, text: str, confidence: float = 1.0) -> list[Event]:
        """The caller says something (a final transcript)."""
        return await self.send(Transcript(self.call_id, text=text, final=True, confidence=confidence))

    async def press(self, keys: str, *, submit: bool = False) -> list[Event]:
        """The caller presses keys; `submit`: a short entry is then ended as the inter-digit timer would."""
        out: list[Event] = []
        for key in keys:
            if key.strip():
                out += await self.send(DtmfDigit(self.call_id, digit=key))
        state = self._current()
        if submit and state.digits and state.status == LISTENING and not state.done:
            out += await self.send(Timeout(self.call_id, name=state.pending))
        return out

    async def silence(self) -> list[Event]:
        """Nothing said until the no-input timer fires."""
        state = self._current()
        if state.status != LISTENING or state.done:
            raise SimError("the call is not waiting for the caller, so silence changes nothing")
        return await self.send(Timeout(self.call_id, name=state.pending))

    async def hangup(self) -> list[Event]:
        """The caller hangs up."""
        return await self.send(Hangup(self.call_id, by="caller"))

    async def http(self, status: int, body: str) -> list[Event]:
        """Answer the HTTP request the flow waits on."""
        state = self._current()
        if state.status != WAITING or not isinstance(self.runner.flow.steps.get(state.step), HttpStep):
            raise SimError("the flow is not waiting for an HTTP answer")
        result = HttpResult(self.call_id, request_id=state.pending, status=status, body=body)
        return [result, *await self.send(result)]

    def result(self, events: list[Event], note: str = "") -> SimResult:
        """What the test panel shows after a move."""
        state = self._current()
        shown = ([SimEvent(kind="note", text=note)] if note else []) + [e for e in map(_event, events) if e]
        variables = {k: v for k, v in _flat(dict(state.variables)).items() if not k.startswith("visits.")}
        slots = {
            s.settings.into: state.variables.get(s.settings.into)
            for s in self.runner.flow.steps.values()
            if isinstance(s, CollectStep) and s.settings.into in state.variables
        }
        pending = next((e for e in reversed(events) if isinstance(e, HttpRequest)), None)
        waiting = (
            f"{pending.method} {pending.url}" if pending is not None and state.pending == pending.request_id else ""
        )
        return SimResult(state=state.to_dict(), step=state.step, status=state.status, done=state.done,
                         ended_by=state.ended_by, events=shown, slots=slots, variables=variables,
                         waiting_http=waiting)  # fmt: skip


def _event(e: Event) -> SimEvent | None:
    if isinstance(e, Say):
        return SimEvent(kind="say", text=e.text)
    if isinstance(e, Play):
        return SimEvent(kind="play", text=f"plays {e.path}")
    if isinstance(e, IntentDetected):
        return SimEvent(kind="intent", text=e.text, intent=e.intent, confidence=e.confidence,
                        ranked=[(n, float(c)) for n, c in e.ranked], source=e.source)  # fmt: skip
    if isinstance(e, Listen):
        how = " and ".join(x for x, on in (("speech", e.speech), ("keys", e.dtmf)) if on)
        return SimEvent(kind="listen", text=f"waits for {how} ({e.timeout:g} s)")
    if isinstance(e, LookupRequest):
        return SimEvent(kind="lookup", text=f"looks up {e.key!r} in {e.source}")
    if isinstance(e, LookupResult):
        what = "error: " + e.error if e.error else ("found " + e.record if e.found else "not found")
        return SimEvent(kind="lookup", text=what)
    if isinstance(e, HttpRequest):
        return SimEvent(kind="http", text=f"{e.method} {e.url}")
    if isinstance(e, HttpResult):
        return SimEvent(kind="http", text=f"answer {e.status}{' ' + e.error if e.error else ''}")
    if isinstance(e, TransferRequested):
        skills = f", skills {', '.join(e.skills)}" if e.skills else ""
        return SimEvent(kind="transfer", text=f"to queue {e.queue} (priority {e.priority}{skills}): {e.reason}")
    if isinstance(e, HangupRequested):
        return SimEvent(kind="hangup", text=e.reason or "the IVR hangs up")
    if isinstance(e, RecordVoicemail):
        return SimEvent(kind="voicemail", text=f"records a message for {e.mailbox}")
    return None


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out |= _flat(v, f"{prefix}{k}.")
        return out
    return {prefix[:-1]: value}


def lookup_with(
    get_order: Callable[[str], Awaitable[Any]], fallback: Callable[[LookupRequest], LookupResult]
) -> Lookup:
    """Lookups as on real calls: 'orders' from the database, other sources from `fallback` (the demo data)."""

    async def lookup(request: LookupRequest) -> LookupResult:
        if request.source != "orders":
            return fallback(request)
        try:
            record = await get_order(request.key.strip())
        except Exception as exc:  # the flow's on_error path is what a database outage looks like on a call
            return LookupResult(request.call_id, request_id=request.request_id, error=str(exc))
        if record is None:
            return LookupResult(request.call_id, request_id=request.request_id, found=False)
        return LookupResult(request.call_id, request_id=request.request_id, found=True, record=json.dumps(record))

    return lookup
