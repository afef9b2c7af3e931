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
    Cancel,
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
    SensitiveInput,
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


PAY = """\
flow: pay
start: greet
defaults: {on_failure: agent, no_input_retries: 0, no_match_retries: 0}
intents:
  agent: {examples: [agent, a person, talk to someone, speak to an agent]}
steps:
  greet: {kind: say, text: Welcome to payments., next: card}
  card:
    kind: collect
    sensitive: true
    slot: digits
    min_length: 13
    max_length: 19
    into: card
    prompt: Enter your card number, then hash.
    confirm: I heard {card:digits}, right?
    intents: {agent: agent}
    next: check
  check:
    kind: branch
    conditions:
      - {if: card > 4000000000000000 and card < 5000000000000000, next: cvv}
    else: declined
  cvv: {kind: collect, sensitive: true, slot: digits, length: 3, into: cvv, prompt: "And the code?", next: charge}
  charge:
    kind: http
    method: POST
    url: http://pay.local/charge
    body: {card: "{card}", cvv: "{cvv}"}
    next: paid
    on_error: declined
  paid: {kind: hangup, text: Thank you., reason: paid}
  declined: {kind: hangup, text: "Sorry, that card was declined.", reason: "declined {card}"}
  agent: {kind: transfer, queue: billing, reason: "caller said {last.text}"}
"""
CARD = "4111111111111111"


@pytest.fixture(scope="module")
def pay() -> FlowRunner:
    return FlowRunner(load_flow_text(PAY, "pay.yaml"))


def sensitivity(actions: list[Event]) -> list[tuple[bool, str]]:
    return [(a.on, a.step) for a in of(SensitiveInput, actions)]


def keys(runner: FlowRunner, state: RunState, digits: str) -> tuple[RunState, list[Event]]:
    out: list[Event] = []
    for d in digits:
        state, actions = runner.handle(state, DtmfDigit("c1", digit=d))
        out += actions
    return state, out


def no_digits_of(card: str, actions: list[Event]) -> None:
    """Nothing the session records or logs (turn texts, IVR text, reasons) holds the card."""
    shown = [a.redacted or a.text for a in of(Say, actions)] + [a.text for a in of(IntentDetected, actions)]
    shown += [a.reason for a in of(TransferRequested, actions)] + [a.reason for a in of(HangupRequested, actions)]
    assert not [s for s in shown if card[:6] in s.replace(" ", "") or "four one one one" in s], shown


def test_sensitive_collect_starts_after_earlier_prompts_and_ends_when_the_slot_is_filled(pay: FlowRunner) -> None:
    state, actions = pay.start("c1")
    assert [type(a).__name__ for a in actions] == ["Say", "SensitiveInput", "Say", "Listen"]
    assert sensitivity(actions) == [(True, "card")] and of(Listen, actions)[0].sensitive
    assert state.sensitive_step == "card"
    state, actions = keys(pay, state, CARD + "#")
    assert of(IntentDetected, actions)[0].text == "[redacted 16 digits]"
    assert state.variables["card"] == CARD  # the flow keeps the value: the branch and the http step use it
    assert state.variables["last"]["text"] == "[redacted 16 digits]"
    assert sensitivity(actions) == [(False, "card"), (True, "cvv")]  # the next sensitive step pauses anew
    state, actions = keys(pay, state, "123")
    request = of(HttpRequest, actions)[0]
    assert json.loads(request.body) == {"card": CARD, "cvv": "123"}
    assert sensitivity(actions) == [(False, "cvv")] and actions.index(of(SensitiveInput, actions)[0]) < actions.index(
        request
    )
    assert state.sensitive_step == "" and not of(Listen, actions)
    no_digits_of(CARD, actions)


def test_a_read_back_is_spoken_in_full_but_recorded_masked(pay: FlowRunner) -> None:
    state, _ = pay.start("c1")
    spoken = "four one one one " * 4
    state, actions = pay.handle(state, Transcript("c1", text=spoken.strip(), final=True))
    (confirm,) = of(Say, actions)
    assert confirm.text.startswith("I heard four one one one four") and confirm.redacted == "I heard [redacted], right?"
    assert of(IntentDetected, actions)[0].text == "[redacted speech]" and sensitivity(actions) == []
    no_digits_of(CARD, actions)
    state, actions = pay.handle(state, Transcript("c1", text="yes", final=True))
    assert state.step == "cvv" and sensitivity(actions) == [(False, "card"), (True, "cvv")]
    state, actions = pay.handle(state, Transcript("c1", text="yes", final=True))  # not three digits: gives up
    assert sensitivity(actions) == [(False, "cvv")] and of(TransferRequested, actions)


@pytest.mark.parametrize(
    ("event", "how"),
    [
        (DtmfDigit("c1", digit="#"), "retries exhausted (too few keys)"),
        (Timeout("c1", name="card#1"), "no input"),
        (Transcript("c1", text="let me speak to an agent", final=True), "escape intent"),
        (Hangup("c1"), "caller hangs up"),
        (Cancel("c1", reason="shutdown"), "cancelled"),
    ],
)
def test_every_way_out_of_a_sensitive_step_ends_it(pay: FlowRunner, event: Event, how: str) -> None:
    state, _ = pay.start("c1")
    state, _ = keys(pay, state, "41")
    assert state.pending == "card#1"
    state, actions = pay.handle(state, event)
    assert sensitivity(actions) == [(False, "card")], how
    assert state.sensitive_step == "" and state.done, how
    ends = of(TransferRequested, actions) + of(HangupRequested, actions)
    assert all(actions.index(of(SensitiveInput, actions)[0]) < actions.index(e) for e in ends), how
    no_digits_of("41", actions)
    if ends and isinstance(ends[0], TransferRequested):
        assert ends[0].reason.startswith("caller said [redacted"), ends[0].reason


def test_a_declined_card_is_not_in_the_hangup_reason(pay: FlowRunner) -> None:
    state, _ = pay.start("c1")
    state, actions = keys(pay, state, "5500000000000004#")
    assert state.ended_by == "hangup" and says(actions) == ["Sorry, that card was declined."]
    assert of(HangupRequested, actions)[0].reason == "declined [redacted]"
    assert sensitivity(actions) == [(False, "card")]


def test_a_flow_without_sensitive_steps_never_pauses(runner: FlowRunner) -> None:
    state, actions = runner.start("c1")
    state, more = runner.handle(state, DtmfDigit("c1", digit="1"))
    assert sensitivity(actions + more) == [] and not of(Listen, more)[0].sensitive
    assert all(not s.redacted for s in of(Say, actions + more))


KOREAN = """\
flow: ko
title: Korean menu
start: menu
defaults: {timeout: 10, no_match_retries: 1, on_failure: bye}
steps:
  menu:
    kind: menu
    prompt: Say an option.
    options:
      - {keys: "1", phrases: [주문 상태], next: order}
      - {keys: "0", phrases: [상담원 연결], next: agent}
  order: {kind: say, text: Order., next: bye}
  agent: {kind: say, text: Agent., next: bye}
  bye: {kind: hangup, text: Bye., reason: done}
"""


@pytest.mark.parametrize(
    ("said", "reply"), [("상담원 연결", "Agent."), ("주문 상태", "Order."), ("...", "Say an option.")]
)
def test_spoken_phrases_in_another_script_pick_their_own_option(said: str, reply: str) -> None:
    # words() once kept only ASCII: every Korean answer (and one with no words) took the first option
    runner = FlowRunner(load_flow_text(KOREAN))
    state = at_menu(runner)
    assert reply in says(runner.handle(state, Transcript("c1", text=said, final=True))[1])


TYPEAHEAD = """\
flow: keys
start: number
defaults: {on_failure: bye}
steps:
  number:
    kind: collect
    slot: digits
    min_length: 4
    max_length: 5
    terminator: "{terminator}"
    into: number
    prompt: Your order number?
    next: answer
  answer:
    kind: say
    text: Order {number:digits} shipped.
    next: more
  more:
    kind: menu
    prompt: Press the key again to hear it again, or 1 for more.
    options:
      - {keys: "{terminator}", next: answer}
      - {keys: "1", next: bye}
  bye:
    kind: hangup
    text: Bye.
    reason: done
"""


def keyed(runner: FlowRunner, state: RunState, digits: str) -> tuple[RunState, list[Event]]:
    out: list[Event] = []
    for d in digits:
        state, actions = runner.handle(state, DtmfDigit("c1", digit=d))
        out += actions
    return state, out


@pytest.mark.parametrize("terminator", ["#", "*"])
def test_the_terminator_after_a_complete_entry_is_swallowed_once(terminator: str) -> None:
    runner = FlowRunner(load_flow_text(TYPEAHEAD.replace("{terminator}", terminator)))
    state, _ = runner.start("c1")
    state, actions = keyed(runner, state, "24680")
    assert says(actions)[0] == "Order two four six eight zero shipped." and state.step == "more"
    assert state.swallows(terminator) and not state.swallows("1")
    swallowed, actions = runner.handle(state, DtmfDigit("c1", digit=terminator))
    assert actions == [] and swallowed.step == "more" and not swallowed.swallows(terminator)
    assert of(IntentDetected, actions) == []  # not even a miss is counted
    # The next one is an ordinary key: here it repeats the answer.
    _, actions = runner.handle(swallowed, DtmfDigit("c1", digit=terminator))
    assert says(actions)[0] == "Order two four six eight zero shipped."


@pytest.mark.parametrize("first", ["key", "speech", "silence"])
def test_anything_the_caller_does_first_ends_the_swallow_rule(first: str) -> None:
    runner = FlowRunner(load_flow_text(TYPEAHEAD.replace("{terminator}", "#")))
    state, _ = runner.start("c1")
    state, _ = keyed(runner, state, "24680")
    event = {
        "key": DtmfDigit("c1", digit="5"),
        "speech": Transcript("c1", text="hello", final=True),
        "silence": Timeout("c1", name=state.pending),
    }[first]
    state, actions = runner.handle(state, event)
    assert actions and not state.swallows("#")  # the event itself was handled (a miss or a reprompt)


def test_an_entry_the_terminator_finishes_swallows_nothing() -> None:
    runner = FlowRunner(load_flow_text(TYPEAHEAD.replace("{terminator}", "#")))
    state, _ = runner.start("c1")
    state, actions = keyed(runner, state, "2468#")
    assert says(actions)[0] == "Order two four six eight shipped." and not state.swallows("#")
    _, actions = runner.handle(state, DtmfDigit("c1", digit="#"))
    assert says(actions)[0] == "Order two four six eight shipped."  # the menu's own '#' option


IMPLICIT = """\
flow: implicit
start: number
defaults: {on_failure: bye}
steps:
  number:
    kind: collect
    slot: digits
    length: 5
    into: number
    prompt: Your order number?
    confirm: I heard {number:digits}. Is that right?
    confirm_below: 0.7
    next: bye
  bye:
    kind: hangup
    text: Bye.
    reason: done
"""


def test_a_value_heard_surely_is_not_read_back() -> None:
    runner = FlowRunner(load_flow_text(IMPLICIT))
    state, _ = runner.start("c1")
    state, actions = runner.handle(state, Transcript("c1", text="one two three four five", final=True,
                                                     confidence=0.8))  # fmt: skip
    assert says(actions) == ["Bye."] and state.variables["number"] == "12345"
    detected = of(IntentDetected, actions)[0]
    assert detected.confidence == 0.8  # the recognizer's confidence, also in `last`
    assert state.variables["last"] == {"text": "one two three four five", "intent": "digits", "confidence": 0.8,
                                       "step": "number", "source": "speech", "confirmed": False}  # fmt: skip


def test_a_value_heard_unsurely_is_read_back_and_marked_confirmed() -> None:
    runner = FlowRunner(load_flow_text(IMPLICIT))
    state, _ = runner.start("c1")
    state, actions = runner.handle(state, Transcript("c1", text="one two three four five", final=True,
                                                     confidence=0.69))  # fmt: skip
    assert says(actions) == ["I heard one two three four five. Is that right?"]
    state, actions = runner.handle(state, Transcript("c1", text="yes", final=True, confidence=0.9))
    assert says(actions) == ["Bye."] and state.variables["last"]["confirmed"] is True


def test_without_confirm_below_every_spoken_value_is_read_back() -> None:
    runner = FlowRunner(load_flow_text(IMPLICIT.replace("    confirm_below: 0.7\n", "")))
    state, _ = runner.start("c1")
    _, actions = runner.handle(state, Transcript("c1", text="one two three four five", final=True, confidence=1.0))
    assert says(actions) == ["I heard one two three four five. Is that right?"]


def test_keyed_values_are_never_read_back_and_say_so_in_last() -> None:
    runner = FlowRunner(load_flow_text(IMPLICIT))
    state, _ = runner.start("c1")
    state, actions = keyed(runner, state, "12345")
    assert says(actions) == ["Bye."]
    assert state.variables["last"]["source"] == "dtmf" and state.variables["last"]["confirmed"] is False
