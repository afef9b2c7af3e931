"""The pure flow runner: (state, event) in, (state, actions) out. No I/O, no clock.

    runner = FlowRunner(load_flow("flows/acme_retail.yaml"))
    state, actions = runner.start(call_id, {"caller": "+15551234"})
    state, actions = runner.handle(state, DtmfDigit(call_id, digit="1"))
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from flows import turns
from flows.answers import Answers
from flows.intents import trained_classifier
from flows.knowledge import KnowledgeBase
from flows.model import (
    BranchStep,
    CollectStep,
    Flow,
    HangupStep,
    HttpStep,
    InputStep,
    LookupStep,
    PlayStep,
    SayStep,
    SetStep,
    TransferStep,
    VoicemailStep,
)
from flows.prompts import lookup, render
from flows.state import DONE, LISTENING, WAITING, RunState
from ivr.core.errors import FlowError
from ivr.core.events import (
    Cancel,
    DtmfDigit,
    Event,
    Hangup,
    HangupRequested,
    HttpRequest,
    HttpResult,
    LookupRequest,
    LookupResult,
    Play,
    RecordVoicemail,
    Say,
    SensitiveInput,
    Timeout,
    Transcript,
    TransferRequested,
    VoicemailRecorded,
)

# Far more hops than any sane flow makes between two caller turns; the validator rejects input-less
# loops, so hitting this means a flow was built without `load_flow`.
_MAX_HOPS = 500

Actions = list[Event]


class FlowRunner:
    """Runs calls through one flow version; holds only immutable data, so one runner serves many calls."""

    def __init__(self, flow: Flow, knowledge: KnowledgeBase | Mapping[str, KnowledgeBase] | None = None) -> None:
        """`knowledge`: the flow's knowledge base, or knowledge bases by name (default: the one the loader attached)."""
        self.flow = flow
        self.classifier = trained_classifier(flow.intents)
        self.knowledge = _knowledge_of(flow, knowledge)
        answering = any(isinstance(s, InputStep) and s.answers is not None for s in flow.steps.values())
        self.answers = Answers(flow, self.knowledge, self.classifier) if self.knowledge and answering else None
        # Variables filled by sensitive collect steps: prompts reading them back are stored and logged masked.
        self.secrets = frozenset(
            s.settings.into for s in flow.steps.values() if isinstance(s, CollectStep) and s.sensitive
        )

    def start(self, call_id: str, variables: Mapping[str, Any] | None = None) -> tuple[RunState, Actions]:
        """Begin a call at the flow's start step; `variables` adds e.g. caller and callee."""
        initial = json.loads(json.dumps(dict(self.flow.variables)))
        initial.update({"call_id": call_id, "caller": "", "callee": "", "visits": {}, "flow": self.flow.name})
        initial.update(dict(variables or {}))
        state = RunState(call_id=call_id, flow_version=self.flow.version, variables=initial)
        actions: Actions = []
        state = self.goto(state, self.flow.start, actions)
        return state, actions

    def handle(self, state: RunState, event: Event) -> tuple[RunState, Actions]:
        """Apply one event; events the current step does not wait for change nothing."""
        if state.flow_version != self.flow.version:
            raise FlowError(
                f"call {state.call_id} runs flow {state.flow_version}, not {self.flow.version}; "
                "keep the runner a call started with until it ends"
            )
        if state.done:
            return state, []
        actions: Actions = []
        if state.swallow_key and isinstance(event, DtmfDigit | Transcript | Timeout):
            # Only the caller's very next input can be the terminator of the entry they just completed.
            swallowed = isinstance(event, DtmfDigit) and state.swallows(event.digit)
            state = dataclasses.replace(state, swallow_key="")
            if swallowed:
                return state, []
        if isinstance(event, Hangup | Cancel):
            by = "caller" if isinstance(event, Hangup) else "cancel"
            state = _sensitivity(state, "", actions)
            return dataclasses.replace(state, status=DONE, ended_by=by, pending=""), actions
        step = self.flow.step(state.step)
        goto: str | None = None
        if state.status == LISTENING and isinstance(step, InputStep | CollectStep):
            if isinstance(event, Transcript) and event.final:
                state, goto = turns.on_speech(self, state, step, event.text, event.confidence, actions)
            elif isinstance(event, DtmfDigit):
                state, goto = turns.on_digit(self, state, step, event.digit, actions)
            elif isinstance(event, Timeout) and event.name == state.pending:
                state, goto = turns.on_timeout(self, state, step, actions)
        elif state.status == WAITING:
            state, goto = self._on_answer(state, step, event)
        if goto is not None:
            state = self.goto(state, goto, actions)
        return state, actions

    # --- answers from the session ------------------------------------------------------

    def _on_answer(self, state: RunState, step: Any, event: Event) -> tuple[RunState, str | None]:
        if isinstance(event, HttpResult) and event.request_id == state.pending and isinstance(step, HttpStep):
            if not 200 <= event.status < 300:
                return state.with_vars(http={"status": event.status, "error": event.error}), step.on_error
            try:
                body = json.loads(event.body) if event.body.strip() else {}
            except json.JSONDecodeError:
                return state.with_vars(http={"status": event.status, "error": "response is not JSON"}), step.on_error
            values = {name: lookup(body, path) if isinstance(body, Mapping) else None for name, path in step.map}
            return state.with_vars(http={"status": event.status, "error": ""}, **values), step.next
        if isinstance(event, LookupResult) and event.request_id == state.pending and isinstance(step, LookupStep):
            if event.error:
                return state, step.on_error or step.not_found
            if not event.found:
                return state, step.not_found
            record = json.loads(event.record) if event.record else {}
            return state.with_vars(**{step.into: record}), step.next
        if (isinstance(event, VoicemailRecorded) and event.request_id == state.pending
                and isinstance(step, VoicemailStep)):
            updates = {step.into: event.path} if step.into else {}
            return state.with_vars(**updates), step.next
        return state, None

    # --- entering steps ----------------------------------------------------------------

    def goto(self, state: RunState, step_id: str, actions: Actions) -> RunState:
        """Run steps from `step_id` until one waits for the caller or an answer, or the call ends."""
        for _ in range(_MAX_HOPS):
            step = self.flow.step(step_id)
            visits = dict(state.variables.get("visits") or {})
            visits[step_id] = int(visits.get(step_id, 0)) + 1
            state = dataclasses.replace(state.with_vars(visits=visits), step=step_id, pending="", digits="",
                                        confirming="")
            state = _sensitivity(state, step_id if isinstance(step, CollectStep) and step.sensitive else "", actions)
            nxt = self._enter(state, step, actions)
            if isinstance(nxt, RunState):
                return nxt
            state, step_id = nxt
        raise FlowError(f"flow {self.flow.name} made {_MAX_HOPS} steps without waiting for the caller at "
                        f"'{step_id}'; validate it with `ivr flows validate`")

    def say(self, state: RunState, texts: tuple[str, ...], actions: Actions, barge_in: bool = True) -> None:
        """Queue each prompt template, rendered with the call's variables (and masked for the record)."""
        for text in texts:
            spoken = render(text, state.variables).strip()
            if spoken:
                shown = render(text, state.variables, self.secrets).strip() if self.secrets else spoken
                actions.append(Say(state.call_id, text=spoken, barge_in=barge_in,
                                   redacted=shown if shown != spoken else ""))

    def _enter(self, state: RunState, step: Any, actions: Actions) -> RunState | tuple[RunState, str]:
        """Do a step's work: return (state, next step id) to go on, or the state to stop in."""
        cid = state.call_id
        if isinstance(step, SayStep):
            self.say(state, step.text, actions, step.barge_in)
            return state, step.next
        if isinstance(step, PlayStep):
            actions.append(Play(cid, path=step.file, barge_in=step.barge_in))
            return state, step.next
        if isinstance(step, SetStep):
            values = {k: render(v, state.variables) if isinstance(v, str) else v for k, v in step.values}
            return state.with_vars(**values), step.next
        if isinstance(step, BranchStep):
            for condition, target, _ in step.conditions:
                if condition.holds(state.variables):
                    return state, target
            return state, step.otherwise
        if isinstance(step, InputStep | CollectStep):
            return turns.begin(self, state, step, actions)
        if isinstance(step, HttpStep):
            state, rid = state.next_id(step.id)
            body = json.dumps(_render_tree(step.body, state.variables)) if step.body is not None else ""
            actions.append(HttpRequest(
                cid, request_id=rid, method=step.method, url=render(step.url, state.variables),
                headers=tuple((k, render(v, state.variables)) for k, v in step.headers),
                body=body, timeout=step.timeout, retries=step.retries,
            ))
            return dataclasses.replace(state, status=WAITING, pending=rid)
        if isinstance(step, LookupStep):
            state, rid = state.next_id(step.id)
            actions.append(LookupRequest(cid, request_id=rid, source=step.source,
                                         key=render(step.key, state.variables)))
            return dataclasses.replace(state, status=WAITING, pending=rid)
        if isinstance(step, VoicemailStep):
            self.say(state, step.text, actions, barge_in=False)
            state, rid = state.next_id(step.id)
            actions.append(RecordVoicemail(cid, request_id=rid, mailbox=step.mailbox, max_seconds=step.max_seconds,
                                           beep=step.beep, finish_digits=step.finish_keys))
            return dataclasses.replace(state, status=WAITING, pending=rid)
        if isinstance(step, TransferStep):
            self.say(state, step.text, actions, barge_in=False)
            priority, skills = step.route(state.variables)
            actions.append(TransferRequested(cid, target=step.target, queue=step.queue, priority=priority,
                                             skills=skills,
                                             reason=render(step.reason, state.variables, self.secrets)))
            return dataclasses.replace(state, status=DONE, ended_by="transfer")
        if isinstance(step, HangupStep):
            self.say(state, step.text, actions, barge_in=False)
            actions.append(HangupRequested(cid, reason=render(step.reason, state.variables, self.secrets)))
            return dataclasses.replace(state, status=DONE, ended_by="hangup")
        raise FlowError(f"step '{step.id}' has kind {step.kind!r}, which this runner cannot run")


def _knowledge_of(flow: Flow, given: KnowledgeBase | Mapping[str, KnowledgeBase] | None) -> KnowledgeBase | None:
    """The knowledge base `flow` names, from `given` or else the one the loader attached."""
    if not flow.knowledge:
        return None
    found = (given.get(flow.knowledge) if isinstance(given, Mapping) else given) or flow.knowledge_base
    if found is None or found.name != flow.knowledge:
        have = sorted(given) if isinstance(given, Mapping) else [given.name] if given else []
        raise FlowError(f"flow {flow.name} answers from knowledge base '{flow.knowledge}', but it was not given "
                        f"(given: {', '.join(have) or 'none'}); pass FlowRunner(flow, knowledge=kb), e.g. "
                        "kb = flows.knowledge_for(flow_path) or flows.load_knowledge_text(text)")
    return found


def _sensitivity(state: RunState, step_id: str, actions: Actions) -> RunState:
    """Leaving a sensitive step ends its SensitiveInput; entering one (`step_id`) starts a new one."""
    if state.sensitive_step == step_id:
        return state
    if state.sensitive_step:
        actions.append(SensitiveInput(state.call_id, on=False, step=state.sensitive_step))
    if step_id:
        actions.append(SensitiveInput(state.call_id, on=True, step=step_id))
    return dataclasses.replace(state, sensitive_step=step_id)


def _render_tree(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, Mapping):
        return {k: _render_tree(v, variables) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_render_tree(v, variables) for v in value]
    return value
