"""Loading and validating flow files: every rejection names the line and says how to fix it."""

from __future__ import annotations

import textwrap

import pytest

from flows.cli import validate_main
from flows.loader import load_flow, load_flow_text
from flows.model import FlowValidationError
from ivr.core.errors import FlowError

GOOD = """\
flow: tiny
start: hello
intents:
  agent:
    examples: [agent, a person]
steps:
  hello:
    kind: say
    text: Hello {caller}.
    next: menu
  menu:
    kind: menu
    prompt: Press 1 or say agent.
    on_no_input: bye
    on_no_match: bye
    options:
      - {keys: "1", intent: agent, next: agent}
  agent:
    kind: transfer
    queue: support
    reason: asked
  bye:
    kind: hangup
    text: Goodbye.
"""


def problems(text: str) -> list[tuple[int, str, str]]:
    """(line, message, fix) of every problem, or [] when the flow is valid."""
    try:
        load_flow_text(textwrap.dedent(text), "t.yaml")
    except FlowValidationError as exc:
        return [(p.line, p.message, p.fix) for p in exc.problems]
    return []


def test_a_good_flow_loads_with_a_content_version() -> None:
    flow = load_flow_text(GOOD, "t.yaml")
    assert flow.name == "tiny"
    assert flow.version.startswith("tiny@") and len(flow.version) == len("tiny@") + 12
    assert load_flow_text(GOOD + "\n# edited\n").version != flow.version
    assert flow.step("menu").kind == "menu"


def test_the_bundled_flow_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_main("flows/acme_retail.yaml") == 0
    assert "ok" in capsys.readouterr().out


def test_unknown_step_kind_suggests_the_right_one() -> None:
    found = problems(GOOD.replace("kind: hangup", "kind: hangpu"))
    assert len(found) == 1
    line, message, fix = found[0]
    assert line == 23 and "unknown step kind 'hangpu'" in message
    assert "did you mean 'hangup'" in fix


def test_unknown_field_is_reported_on_its_own_line() -> None:
    found = problems(GOOD.replace("    text: Hello {caller}.", "    text: Hello {caller}.\n    txet: oops"))
    assert found[0][0] == 10 and "unknown field 'txet'" in found[0][1]
    assert "allowed fields here" in found[0][2]


def test_missing_required_field() -> None:
    found = problems(GOOD.replace("    queue: support\n", ""))
    assert found and "needs 'queue'" in found[0][1] and found[0][0] == 18


def test_missing_target_names_the_step_and_suggests() -> None:
    found = problems(GOOD.replace("next: agent}", "next: agnet}"))
    assert len(found) == 1
    line, message, fix = found[0]
    assert line == 17 and "goes to 'agnet', which is not a step" in message and "did you mean 'agent'" in fix


def test_input_step_without_failure_target() -> None:
    found = problems(GOOD.replace("    on_no_input: bye\n", ""))
    assert any("no 'on_no_input' target" in m and "on_failure" in f for _, m, f in found)


def test_unreachable_step() -> None:
    text = GOOD + "  orphan:\n    kind: say\n    text: nobody hears this\n    next: bye\n"
    found = problems(text)
    assert found == [
        (25, "step 'orphan' is unreachable from start step 'hello'", "point a step's next/option at it, or delete it")
    ]


def test_loop_without_input() -> None:
    text = GOOD.replace("    next: menu\n", "    next: again\n") + (
        '  again:\n    kind: branch\n    conditions:\n      - {if: caller == "1", next: menu}\n    else: hello\n'
    )
    found = problems(text)
    assert any("loop without caller input: hello -> again -> hello" in m for _, m, _ in found)


def test_prompt_with_undefined_variable() -> None:
    found = problems(GOOD.replace("Goodbye.", "Goodbye {customer.name}."))
    assert len(found) == 1
    line, message, fix = found[0]
    assert line == 24 and "'{customer.name}'" in message and "declare it under 'variables'" in fix


def test_variable_set_on_only_one_path_is_undefined() -> None:
    text = """\
    flow: paths
    start: ask
    steps:
      ask:
        kind: collect
        slot: digits
        into: pin
        prompt: Your PIN?
        on_no_input: done
        on_no_match: done
        next: done
      done:
        kind: hangup
        text: Your PIN was {pin:digits}.
    """
    found = problems(text)
    assert len(found) == 1 and "'{pin}'" in found[0][1]
    fixed = text.replace("      done:", "      bye:\n        kind: hangup\n      done:").replace(
        "on_no_input: done\n        on_no_match: done", "on_no_input: bye\n        on_no_match: bye"
    )
    assert problems(fixed) == []


def test_declared_variables_and_lookup_results_are_defined() -> None:
    text = """\
    flow: data
    start: find
    variables: {account: "42"}
    steps:
      find:
        kind: lookup
        source: orders
        key: "{account}"
        into: order
        next: found
        not_found: missing
      found:
        kind: hangup
        text: Status {order.status}.
      missing:
        kind: hangup
        text: No order {order.status}.
    """
    found = problems(text)
    assert len(found) == 1 and "step 'missing'" in found[0][1]


def test_intent_without_examples() -> None:
    found = problems(GOOD.replace("examples: [agent, a person]", "examples: []"))
    assert found == [
        (
            4,
            "intent 'agent' has no examples, so it can never be recognized",
            "add 'examples:' with a few ways a caller would say it",
        )
    ]


def test_undefined_intent_and_duplicate_keys() -> None:
    text = GOOD.replace(
        '      - {keys: "1", intent: agent, next: agent}',
        '      - {keys: "1", intent: agnt, next: agent}\n      - {keys: "1", next: bye}',
    )
    messages = [m for _, m, _ in problems(text)]
    assert any("intent 'agnt', which is not defined" in m for m in messages)
    assert any("key '1' is used twice" in m for m in messages)


def test_bad_template_and_bad_condition() -> None:
    found = problems(GOOD.replace("Hello {caller}.", "Hello {caller:shout}."))
    assert "unknown format ':shout'" in found[0][1]
    text = GOOD.replace("    next: menu\n", "    next: check\n") + (
        "  check:\n    kind: branch\n    conditions:\n      - {if: caller ==, next: menu}\n    else: menu\n"
    )
    found = problems(text)
    assert found[0][0] == 28 and "expected a value or variable" in found[0][1]


def test_yaml_syntax_error_and_duplicate_keys() -> None:
    assert problems("flow: x\nsteps: [\n")[0][1].startswith("YAML syntax error")
    dup = problems(GOOD.replace("  bye:\n", "  hello:\n"))
    assert any(m == "duplicate key 'hello'" for _, m, _ in dup)


def test_yes_and_no_stay_words() -> None:
    text = GOOD.replace("  agent:\n    examples", '  "yes":\n    examples: [yes]\n  agent:\n    examples')
    assert problems(text) == []
    assert set(load_flow_text(textwrap.dedent(text)).intents) == {"yes", "agent"}


def test_validation_error_is_a_flow_error_listing_everything(tmp_path: pytest.TempPathFactory) -> None:
    bad = GOOD.replace("kind: hangup", "kind: nope").replace("queue: support", "queue: 3")
    path = tmp_path / "bad.yaml"  # type: ignore[operator]
    path.write_text(bad)
    with pytest.raises(FlowError) as info:
        load_flow(path)
    assert "cannot go live" in str(info.value) and "bad.yaml:23" in str(info.value) and "bad.yaml:20" in str(info.value)


def test_validate_main_prints_problems(tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"  # type: ignore[operator]
    path.write_text(GOOD.replace("next: bye", "next: bye").replace("Goodbye.", "Bye {who}."))
    assert validate_main(path) == 1
    out = capsys.readouterr().out
    assert "bad.yaml:24:" in out and "fix:" in out and "cannot go live" in out
    assert validate_main(tmp_path / "missing.yaml") == 1  # type: ignore[operator]


CARD_FLOW = """\
flow: pay
start: card
steps:
  card:
    kind: collect
    sensitive: true
    slot: digits
    length: 16
    into: card
    prompt: Your card number?
    confirm: I heard {card:digits}, right?
    on_no_input: bye
    on_no_match: bye
    next: charge
  charge:
    kind: http
    method: POST
    url: http://pay.local/charge
    body: {card: "{card}"}
    next: done
    on_error: bye
  done:
    kind: say
    text: Thank you.
    next: bye
  bye:
    kind: hangup
    text: Goodbye.
"""


def test_sensitive_is_a_collect_option_read_back_only_in_its_confirm() -> None:
    assert problems(CARD_FLOW) == []  # the confirm reads it back (still paused), the http step sends it
    flow = load_flow_text(CARD_FLOW)
    assert flow.step("card").sensitive is True  # type: ignore[attr-defined]
    assert load_flow_text(CARD_FLOW.replace("    sensitive: true\n", "")).step("card").sensitive is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(("step", "kind", "line"), [("menu", "menu", 13), ("hello", "say", 9)])
def test_sensitive_elsewhere_is_rejected_with_a_clear_fix(step: str, kind: str, line: int) -> None:
    found = problems(GOOD.replace(f"    kind: {kind}\n", f"    kind: {kind}\n    sensitive: true\n"))
    assert len(found) == 1, found
    assert found[0][:2] == (line, f"step '{step}': only a collect step can be sensitive, not a {kind} step")
    assert "'kind: collect' step with 'sensitive: true'" in found[0][2]


def test_sensitive_must_be_a_boolean() -> None:
    found = problems(CARD_FLOW.replace("sensitive: true", "sensitive: yes"))
    assert len(found) == 1 and "field 'sensitive' must be boolean" in found[0][1]


def test_a_prompt_outside_the_sensitive_step_may_not_speak_its_value() -> None:
    found = problems(CARD_FLOW.replace("text: Thank you.", "text: Charged {card:digits}."))
    assert len(found) == 1, found
    line, message, fix = found[0]
    assert line == 24
    assert message == "step 'done': prompt speaks '{card}', which sensitive step 'card' collects; the recording is " \
                      "not paused here"  # fmt: skip
    assert fix == "read it back only in the 'confirm' of step 'card', or leave it out"
