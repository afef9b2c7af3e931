"""A transfer step's `when` rules: priority and skills picked from what a lookup found (e.g. VIP customers first)."""

from __future__ import annotations

import json

import pytest

from flows import FlowRunner, load_flow_text
from flows.customers import DEMO_CUSTOMERS, MemoryCustomers
from flows.model import FlowValidationError
from ivr.core.events import DtmfDigit, LookupRequest, LookupResult, TransferRequested
from ivr.core.phone import number_key

FLOW = """\
flow: rules
start: who
variables:
  customer: {tier: "", language: ""}
steps:
  who:
    kind: lookup
    source: customers
    key: "{caller}"
    into: customer
    next: menu
    not_found: menu
    on_error: menu
  menu:
    kind: menu
    prompt: Press 1.
    on_no_input: agent
    on_no_match: agent
    options:
      - {keys: "1", next: agent}
  agent:
    kind: transfer
    queue: support
    priority: 1
    skills: [orders]
    reason: asked
    when:
      - {if: customer.tier == "vip" and customer.language == "es", priority: 20, skills: [spanish, orders]}
      - {if: customer.tier == "vip", priority: 10}
      - {if: customer.language == "es", skills: [spanish]}
"""


def _transfer(record: dict[str, str] | None, error: str = "") -> TransferRequested:
    runner = FlowRunner(load_flow_text(FLOW))
    state, actions = runner.start("c1", {"caller": "+15550100"})
    (request,) = [a for a in actions if isinstance(a, LookupRequest)]
    assert (request.source, request.key) == ("customers", "+15550100")
    result = LookupResult(
        "c1",
        request_id=request.request_id,
        found=record is not None,
        record=json.dumps(record) if record else "",
        error=error,
    )
    state, _ = runner.handle(state, result)
    state, actions = runner.handle(state, DtmfDigit("c1", digit="1"))
    (transfer,) = [a for a in actions if isinstance(a, TransferRequested)]
    return transfer


@pytest.mark.parametrize(
    ("record", "priority", "skills"),
    [
        ({"tier": "vip", "language": "es"}, 20, ("orders", "spanish")),  # the first rule that holds wins
        ({"tier": "vip", "language": "en"}, 10, ("orders",)),  # a rule without skills keeps the step's
        ({"tier": "standard", "language": "es"}, 1, ("orders", "spanish")),  # without priority keeps the step's
        ({"tier": "standard", "language": "en"}, 1, ("orders",)),
        (None, 1, ("orders",)),  # not a customer: the declared defaults hold
    ],
)
def test_the_first_rule_that_holds_sets_priority_and_adds_skills(
    record: dict[str, str] | None, priority: int, skills: tuple[str, ...]
) -> None:
    t = _transfer(record)
    assert (t.queue, t.priority, t.skills) == ("support", priority, skills)


def test_a_lookup_that_failed_takes_on_error_and_the_caller_is_still_transferred() -> None:
    t = _transfer(None, error="the 'customers' data source did not answer within 4 s")
    assert (t.priority, t.skills) == (1, ("orders",))


def test_a_rule_reading_a_variable_not_set_on_every_path_is_rejected_with_its_line() -> None:
    text = FLOW.replace('variables:\n  customer: {tier: "", language: ""}\n', "")
    with pytest.raises(FlowValidationError) as exc:
        load_flow_text(text)
    problems = [p for p in exc.value.problems if "customer.tier" in p.message]
    first_rule = next(i for i, line in enumerate(text.splitlines(), 1) if "priority: 20" in line)
    assert problems and problems[0].line == first_rule
    assert "not set on every path" in problems[0].message


@pytest.mark.parametrize(
    ("rule", "wanted"),
    [
        ("{if: customer.tier ==, priority: 10}", "expected a value or variable"),
        ('{if: customer.tier == "vip"}', "sets neither a priority nor skills"),
        ('{if: customer.tier == "vip", priority: high}', "'when.1.priority' must be integer"),
        ('{if: customer.tier == "vip", priority: 1, queue: vip}', "unknown field 'queue'"),
    ],
)
def test_malformed_rules_are_rejected(rule: str, wanted: str) -> None:
    text = FLOW.replace('      - {if: customer.tier == "vip", priority: 10}', f"      - {rule}")
    with pytest.raises(FlowValidationError) as exc:
        load_flow_text(text)
    assert [p.line for p in exc.value.problems if wanted in p.message] == [29], exc.value.problems


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("+15550100", "15550100"),
        ("+1 555-0100", "15550100"),
        ('"Dana" <sip:+15550100@10.0.0.5:5060;transport=udp>', "15550100"),
        ("sip:15550100@host", "15550100"),
        ("tel:+1-555-0100", "15550100"),
        ("(555) 010.0100", "5550100100"),
        ("alice", "alice"),
        ("", ""),
    ],
)
def test_caller_numbers_have_one_normal_form(raw: str, key: str) -> None:
    assert number_key(raw) == key


def test_demo_customers_are_found_by_any_of_their_numbers_in_any_spelling() -> None:
    source = MemoryCustomers(DEMO_CUSTOMERS)
    found = source.get("sip:+1 555 0199@pbx")
    assert found is not None and (found["id"], found["name"], found["tier"]) == ("C1002", "Marcus Lee", "vip")
    assert found["number"] == "15550199" and found["numbers"] == ["+15550101", "+15550199"]
    assert source.get("+15559999") is None
    assert source.get("") is None
