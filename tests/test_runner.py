"""The pure runner: (state, event) in, (state, actions) out, for every step kind."""

from __future__ import annotations

import dataclasses
import json
from typing import TypeVar

import pytest

from flows.loader import load_flow_text
from flows.runner import FlowRunner
from flows.state import RunState
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
    PlaybackDone,
    RecordVoicemail,
    Say,
    Timeout,
    Transcript,
    TransferRequested,
    VoicemailRecorded,
)

E = TypeVar("E", bound=Event)

FLOW = """\
flow: unit
start: hello
defaults: {on_failure: gave_up, no_input_retries: 1, no_match_retries: 1, confidence: 0.5}
variables: {greeting: Welcome, failure: {reason: unknown, step: unknown}}
intents:
  billing: {examples: [billing, pay my bill, a question about my invoice], keywords: [bill, invoice]}
  sales: {examples: [sales, buy something, i want to purchase a new phone], keywords: [buy]}
  "yes": {examples: ["yes", yeah, sure]}
steps:
  hello:
    kind: say
    text: ["{greeting} to {flow}.", "Calling from {caller}."]
    next: menu
  menu:
    kind: menu
    prompt: Say billing or sales, press 1 or 2, or 42 for the secret menu.
    confirm_below: 0.8
    into: choice
    barge_in: false
    vad: {trailing_silence_ms: 700}
    options:
      - {keys: "1", intent: billing, next: pin}
      - {keys: "2", intent: sales, next: fetch}
      - {keys: "42", phrases: [secret menu], next: voicemail}
      - {keys: "*", phrases: [start over], next: hello_again}
  hello_again:
    kind: set
    values: {greeting: Welcome back}
    next: hello
  pin:
    kind: collect
    slot: digits
    length: 4
    into: pin
    prompt: Your four digit PIN?
    confirm: I heard {pin:digits}, right?
    intents: {sales: fetch}
    next: check_pin
  check_pin:
    kind: branch
    conditions:
      - {if: pin == "1234", next: find}
      - {if: visits.check_pin < 2, next: pin}
    else: gave_up
  find:
    kind: lookup
    source: accounts
    key: "{pin}"
    into: account
    next: balance
    not_found: gave_up
    on_error: bye
  balance:
    kind: say
    text: You owe {account.due:money} by {account.by:date}.
    next: bye
  fetch:
    kind: http
    method: POST
    url: "http://crm.local/leads?caller={caller}"
    headers: {X-Call: "{call_id}"}
    body: {caller: "{caller}", tags: [sales]}
    timeout: 2
    retries: 2
    map: {lead.id: id, lead.rep: owner.name}
    next: sales_agent
    on_error: bye
  sales_agent:
    kind: transfer
    text: Connecting you to {lead.rep}.
    queue: sales
    priority: 2
    skills: [phones, upsell]
    reason: "lead {lead.id}"
  voicemail:
    kind: record_voicemail
    text: Leave a message after the beep.
    mailbox: secret
    max_seconds: 30
    into: message
    next: bye
  gave_up:
    kind: transfer
    queue: support
    reason: "{failure.reason} at {failure.step}"
  bye:
    kind: hangup
    text: Bye.
    reason: done
"""


@pytest.fixture(scope="module")
def runner() -> FlowRunner:
    return FlowRunner(load_flow_text(FLOW, "unit.yaml"))


def says(actions: list[Event]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


def of(kind: type[E], actions: list[Event]) -> list[E]:
    return [a for a in actions if isinstance(a, kind)]


def at_menu(runner: FlowRunner) -> RunState:
    state, _ = runner.start("c1", {"caller": "555"})
    return state


def test_start_says_the_greeting_and_listens(runner: FlowRunner) -> None:
    state, actions = runner.start("c1", {"caller": "555"})
    assert says(actions) == [
        "Welcome to unit.",
        "Calling from 555.",
        "Say billing or sales, press 1 or 2, or 42 for the secret menu.",
    ]
    listen = of(Listen, actions)[0]
    assert actions[-1] is listen and listen.timer == state.pending
    assert listen.max_digits == 2 and listen.barge_in is False and listen.vad == (("trailing_silence_ms", 700.0),)
    assert "pay my bill" in listen.phrases and "secret menu" in listen.phrases
    assert of(Say, actions)[-1].barge_in is False
    assert state.step == "menu" and state.flow_version == runner.flow.version
    assert state.variables["visits"] == {"hello": 1, "menu": 1}


def test_state_is_never_mutated_and_runs_are_repeatable(runner: FlowRunner) -> None:
    state = at_menu(runner)
    before = json.dumps(state.to_dict(), sort_keys=True)
    first = runner.handle(state, DtmfDigit("c1", digit="1"))
    second = runner.handle(state, DtmfDigit("c1", digit="1"))
    assert json.dumps(state.to_dict(), sort_keys=True) == before
    assert first == second
    assert RunState.from_dict(json.loads(json.dumps(first[0].to_dict()))) == first[0]


def test_a_call_keeps_its_flow_version(runner: FlowRunner) -> None:
    state = at_menu(runner)
    newer = FlowRunner(load_flow_text(FLOW.replace("Bye.", "Goodbye."), "unit.yaml"))
    with pytest.raises(FlowError, match="keep the runner a call started with"):
        newer.handle(state, DtmfDigit("c1", digit="1"))


def test_events_that_are_not_awaited_change_nothing(runner: FlowRunner) -> None:
    state = at_menu(runner)
    assert runner.handle(state, PlaybackDone("c1")) == (state, [])
    assert runner.handle(state, Timeout("c1", name="stale#0")) == (state, [])
    assert runner.handle(state, Transcript("c1", text="billing", final=False)) == (state, [])
    assert runner.handle(state, HttpResult("c1", request_id="x", status=200)) == (state, [])


def test_single_key_picks_at_once_and_double_key_waits(runner: FlowRunner) -> None:
    state = at_menu(runner)
    after_one, actions = runner.handle(state, DtmfDigit("c1", digit="1"))
    assert after_one.step == "pin" and after_one.variables["choice"] == "billing"
    assert of(IntentDetected, actions)[0].source == "dtmf"
    partial, actions = runner.handle(state, DtmfDigit("c1", digit="4"))
    assert actions == [] and partial.digits == "4" and partial.step == "menu"
    done, actions = runner.handle(partial, DtmfDigit("c1", digit="2"))
    assert done.step == "voicemail" and says(actions) == ["Leave a message after the beep."]


def test_spoken_key_and_grammar_phrase(runner: FlowRunner) -> None:
    state = at_menu(runner)
    assert runner.handle(state, Transcript("c1", text="press two", final=True))[0].step == "fetch"
    assert runner.handle(state, Transcript("c1", text="the secret menu please", final=True))[0].step == "voicemail"
    back, actions = runner.handle(state, DtmfDigit("c1", digit="*"))
    assert back.step == "menu" and says(actions)[0] == "Welcome back to unit."


def test_confident_intent_is_taken(runner: FlowRunner) -> None:
    state, actions = runner.handle(
        at_menu(runner), Transcript("c1", text="i have a question about my bill", final=True)
    )
    detected = of(IntentDetected, actions)[0]
    assert detected.intent == "billing" and detected.confidence >= 0.8 and detected.ranked[0][0] == "billing"
    assert state.step == "pin" and state.variables["last"]["intent"] == "billing"


def test_unsure_intent_is_confirmed() -> None:
    runner = FlowRunner(load_flow_text(FLOW.replace("confirm_below: 0.8", "confirm_below: 0.9999"), "unit.yaml"))
    state = at_menu(runner)
    state, actions = runner.handle(state, Transcript("c1", text="bill", final=True))
    assert 0.5 <= of(IntentDetected, actions)[0].confidence < 0.9999
    assert says(actions) == ["Did you say billing?"] and state.confirming == "intent:billing"
    assert of(Listen, actions)[0].max_digits == 1
    yes, _ = runner.handle(state, Transcript("c1", text="yes", final=True))
    assert yes.step == "pin"
    no, actions = runner.handle(state, DtmfDigit("c1", digit="2"))
    assert no.step == "menu" and no.no_match == 1 and says(actions)[0].startswith("Say billing")


def test_no_match_reprompts_then_gives_up_with_reason(runner: FlowRunner) -> None:
    state = at_menu(runner)
    state, actions = runner.handle(state, Transcript("c1", text="the weather in paris", final=True))
    assert says(actions) == [
        "Sorry, I didn't understand that.",
        "Say billing or sales, press 1 or 2, or 42 for the secret menu.",
    ]
    assert of(IntentDetected, actions)[0].intent in ("", "billing", "sales")
    state, actions = runner.handle(state, DtmfDigit("c1", digit="7"))
    transfer = of(TransferRequested, actions)[0]
    assert transfer.queue == "support" and transfer.reason == "not understood 2 times at menu"
    assert state.done and state.ended_by == "transfer"
    assert runner.handle(state, DtmfDigit("c1", digit="1")) == (state, [])


def test_no_input_reprompts_then_gives_up(runner: FlowRunner) -> None:
    state = at_menu(runner)
    state, actions = runner.handle(state, Timeout("c1", name=state.pending))
    assert says(actions)[0] == "Sorry, I didn't hear anything." and state.no_input == 1
    state, actions = runner.handle(state, Timeout("c1", name=state.pending))
    assert of(TransferRequested, actions)[0].reason == "no input 2 times at menu"


def test_collect_by_keys_branch_and_lookup(runner: FlowRunner) -> None:
    state, _ = runner.handle(at_menu(runner), DtmfDigit("c1", digit="1"))
    for d in "123":
        state, actions = runner.handle(state, DtmfDigit("c1", digit=d))
        assert actions == []
    state, actions = runner.handle(state, DtmfDigit("c1", digit="4"))
    request = of(LookupRequest, actions)[0]
    assert (request.source, request.key, state.status) == ("accounts", "1234", "waiting")
    assert runner.handle(state, DtmfDigit("c1", digit="#"))[1] == []  # terminator after a full entry is ignored
    record = json.dumps({"due": "12.5", "by": "2025-12-01"})
    found, actions = runner.handle(state, LookupResult("c1", request_id=request.request_id, found=True, record=record))
    assert says(actions) == ["You owe twelve dollars and fifty cents by December first.", "Bye."]
    assert of(HangupRequested, actions)[0].reason == "done" and found.ended_by == "hangup"
    _, actions = runner.handle(state, LookupResult("c1", request_id=request.request_id, found=False))
    assert of(TransferRequested, actions)[0].queue == "support"
    _, actions = runner.handle(state, LookupResult("c1", request_id=request.request_id, error="db down"))
    assert says(actions) == ["Bye."]


def test_collect_by_speech_confirms_and_loops_through_branch(runner: FlowRunner) -> None:
    state, _ = runner.handle(at_menu(runner), DtmfDigit("c1", digit="1"))
    state, actions = runner.handle(state, Transcript("c1", text="nine eight seven six", final=True))
    assert says(actions) == ["I heard nine eight seven six, right?"] and state.variables["pin"] == "9876"
    state, actions = runner.handle(state, Transcript("c1", text="yes", final=True))
    assert state.step == "pin" and says(actions) == ["Your four digit PIN?"]  # wrong PIN: branch loops once
    state, actions = runner.handle(state, DtmfDigit("c1", digit="1"))
    state, actions = runner.handle(state, DtmfDigit("c1", digit="#"))
    assert says(actions)[0] == "Sorry, I didn't understand that."
    state, actions = runner.handle(state, Transcript("c1", text="I want to buy a phone", final=True))
    assert state.step == "fetch"


def test_http_request_and_results(runner: FlowRunner) -> None:
    state, actions = runner.handle(at_menu(runner), DtmfDigit("c1", digit="2"))
    request = of(HttpRequest, actions)[0]
    assert request.method == "POST" and request.url == "http://crm.local/leads?caller=555"
    assert request.headers == (("X-Call", "c1"),) and json.loads(request.body) == {"caller": "555", "tags": ["sales"]}
    assert (request.timeout, request.retries) == (2.0, 2)
    ok = HttpResult("c1", request_id=request.request_id, status=200, body='{"id": 7, "owner": {"name": "Dana"}}')
    done, actions = runner.handle(state, ok)
    assert says(actions) == ["Connecting you to Dana."]
    transfer = of(TransferRequested, actions)[0]
    assert (transfer.queue, transfer.priority, transfer.skills, transfer.reason) == (
        "sales",
        2,
        ("phones", "upsell"),
        "lead 7",
    )
    assert done.variables["lead"] == {"id": 7, "rep": "Dana"}
    for bad in (
        HttpResult("c1", request_id=request.request_id, status=503, error="HTTP 503"),
        HttpResult("c1", request_id=request.request_id, status=0, error="timeout"),
        HttpResult("c1", request_id=request.request_id, status=200, body="<html>"),
    ):
        after, actions = runner.handle(state, bad)
        assert says(actions) == ["Bye."] and after.variables["http"]["status"] == bad.status


def test_voicemail(runner: FlowRunner) -> None:
    state, _ = runner.handle(at_menu(runner), DtmfDigit("c1", digit="4"))
    state, actions = runner.handle(state, DtmfDigit("c1", digit="2"))
    record = of(RecordVoicemail, actions)[0]
    assert (record.mailbox, record.max_seconds, record.finish_digits) == ("secret", 30.0, "#")
    state, actions = runner.handle(state, VoicemailRecorded("c1", request_id=record.request_id, path="/v/1.wav"))
    assert state.variables["message"] == "/v/1.wav" and says(actions) == ["Bye."]


def test_caller_hangup_ends_the_run(runner: FlowRunner) -> None:
    state, actions = runner.handle(at_menu(runner), Hangup("c1"))
    assert state.done and state.ended_by == "caller" and actions == []


def test_dtmf_only_and_speech_only_steps() -> None:
    flow = FLOW.replace("    confirm_below: 0.8\n", "    confirm_below: 0.8\n    input: dtmf\n")
    r = FlowRunner(load_flow_text(flow, "unit.yaml"))
    state, actions = r.start("c2")
    assert of(Listen, actions)[0].speech is False
    assert r.handle(state, Transcript("c2", text="billing", final=True)) == (state, [])
    speech_only = FlowRunner(load_flow_text(flow.replace("input: dtmf", "input: speech"), "unit.yaml"))
    state, _ = speech_only.start("c2")
    assert speech_only.handle(state, DtmfDigit("c2", digit="1")) == (state, [])


def test_replace_keeps_frozen_state_semantics() -> None:
    state = RunState("c", "v", variables={"a": {"b": 1}})
    changed = state.with_vars(**{"a.c": 2})
    assert state.variables == {"a": {"b": 1}} and changed.variables == {"a": {"b": 1, "c": 2}}
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.step = "x"  # type: ignore[misc]
