"""A call without a phone: drive a FlowRunner with caller input and answer its lookups (simulator, flow tests)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flows.orders import DataSource, answer_lookup, demo_sources
from flows.runner import FlowRunner
from flows.state import RunState
from ivr.core.events import (
    DtmfDigit,
    Event,
    Hangup,
    HttpRequest,
    HttpResult,
    Listen,
    LookupRequest,
    RecordVoicemail,
    Timeout,
    Transcript,
    VoicemailRecorded,
)

HttpHandler = Callable[[HttpRequest], HttpResult | None]


class Conversation:
    """One simulated call: caller turns in, everything the IVR did out (lookups and voicemail answered here)."""

    def __init__(self, runner: FlowRunner, call_id: str = "sim-1", sources: Mapping[str, DataSource] | None = None,
                 http: HttpHandler | None = None, variables: Mapping[str, Any] | None = None) -> None:
        self.runner = runner
        self.call_id = call_id
        self.sources = dict(demo_sources() if sources is None else sources)
        self.http = http
        self.variables = dict(variables or {})
        self.state: RunState | None = None
        self.pending_http: HttpRequest | None = None
        self.listening: Listen | None = None
        self.log: list[Event] = []

    def start(self) -> list[Event]:
        """Answer the call: the greeting and first prompt."""
        self.state, actions = self.runner.start(self.call_id, self.variables)
        return self._settle(actions)

    def _current(self) -> RunState:
        if self.state is None:
            raise RuntimeError("call start() first")
        return self.state

    def send(self, event: Event) -> list[Event]:
        """Feed one event; returns every action up to the next wait for the caller."""
        self.state, actions = self.runner.handle(self._current(), event)
        return self._settle(actions)

    def _settle(self, actions: list[Event]) -> list[Event]:
        out: list[Event] = []
        queue = list(actions)
        while queue:
            action = queue.pop(0)
            out.append(action)
            answer: Event | None = None
            if isinstance(action, Listen):
                self.listening = action
            elif isinstance(action, LookupRequest):
                answer = answer_lookup(action, self.sources)
            elif isinstance(action, RecordVoicemail):
                answer = VoicemailRecorded(self.call_id, request_id=action.request_id,
                                           path=f"voicemail/{action.mailbox}/{self.call_id}.wav", duration=12.0)
            elif isinstance(action, HttpRequest):
                self.pending_http = action
                answer = self.http(action) if self.http is not None else None
            if answer is not None:
                out.append(answer)
                if isinstance(answer, HttpResult):
                    self.pending_http = None
                self.state, more = self.runner.handle(self._current(), answer)
                queue = more + queue
        self.log += out
        return out

    def say(self, text: str, confidence: float = 1.0) -> list[Event]:
        """The caller says something (a final transcript)."""
        return self.send(Transcript(self.call_id, text=text, final=True, confidence=confidence))

    def press(self, digits: str) -> list[Event]:
        """The caller presses keys, one DtmfDigit each."""
        out: list[Event] = []
        for digit in digits:
            out += self.send(DtmfDigit(self.call_id, digit=digit))
        return out

    def silence(self) -> list[Event]:
        """The caller says nothing until the no-input timer fires."""
        timer = self._current().pending
        return self.send(Timeout(self.call_id, name=timer))

    def hangup(self) -> list[Event]:
        """The caller hangs up."""
        return self.send(Hangup(self.call_id, by="caller"))

    def answer_http(self, status: int, body: str = "", error: str = "") -> list[Event]:
        """Answer the pending HttpRequest (flow tests script business-system replies this way)."""
        if self.pending_http is None:
            raise RuntimeError("the flow has not made an HTTP request to answer")
        request, self.pending_http = self.pending_http, None
        result = HttpResult(self.call_id, request_id=request.request_id, status=status, body=body, error=error)
        return [result, *self.send(result)]
