"""The bundled Acme hotline: every shipped YAML test case, plus the CLI entry points on it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from flows import FlowRunner, cli, load_flow
from flows.conversation import Conversation
from flows.flowtest import CaseResult, run_test_file
from flows.yaml_source import read_yaml
from ivr.core.events import DtmfDigit, Listen, LookupRequest, LookupResult, Say, TransferRequested

FLOW = Path(__file__).resolve().parents[1] / "flows" / "acme_retail.yaml"
CASES = FLOW.with_name("acme_retail.tests.yaml")
NAMES = [c["name"] for c in read_yaml(CASES.read_text(), str(CASES)).data["cases"]]


@pytest.fixture(scope="module")
def results() -> dict[str, CaseResult]:
    return {r.name: r for r in run_test_file(CASES)}


@pytest.mark.parametrize("name", NAMES)
def test_case(results: dict[str, CaseResult], name: str) -> None:
    result = results[name]
    assert result.passed, result.failure + "\n" + "\n".join(result.transcript)


def test_test_main_runs_the_shipped_cases() -> None:
    out = io.StringIO()
    assert cli.test_main([FLOW], out) == 0
    assert f"{len(NAMES)} passed, 0 failed" in out.getvalue()


def test_test_main_reports_a_failing_case_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tests.yaml"
    bad.write_text(
        f"flow: {FLOW}\ncases:\n  - name: wrong hours\n    script:\n      - dtmf: '3'\n"
        "      - expect: open around the clock\n"
    )
    out = io.StringIO()
    assert cli.test_main([bad], out) == 1
    text = out.getvalue()
    assert "FAIL  wrong hours" in text and "bad.tests.yaml:6: expected the IVR to say 'open around the clock'" in text
    assert "IVR: Our stores are open Monday to Saturday" in text  # the transcript helps to debug
    assert cli.test_main([tmp_path / "none.yaml"], io.StringIO()) == 1


def test_simulate_a_whole_call() -> None:
    caller = io.StringIO("where is my order\n#12345\n/vars\nno thanks\n")
    out = io.StringIO()
    assert cli.simulate_main(FLOW, caller, out) == 0
    text = out.getvalue()
    assert "IVR: Thank you for calling Acme." in text
    assert "[speech: order_status 0.9" in text
    assert "[lookup orders '12345']" in text
    assert "IVR: Order one two three four five shipped on November twentieth" in text
    assert '[var] order_number = "12345"' in text
    assert "[hangup: caller finished]" in text and "[call ended: hangup]" in text


def test_simulate_dtmf_word_silence_and_hangup() -> None:
    out = io.StringIO()
    assert cli.simulate_main(FLOW, io.StringIO("dtmf 3\n\n/hangup\n"), out) == 0
    text = out.getvalue()
    assert "Sunday from 10 AM to 6 PM" in text and "[silence]" in text and "Sorry, I didn't hear anything." in text
    assert "[call ended: caller]" in text


def test_simulate_stops_at_end_of_input_and_rejects_invalid_flows(tmp_path: Path) -> None:
    assert cli.simulate_main(FLOW, io.StringIO(""), io.StringIO()) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow: x\nstart: a\nsteps:\n  a: {kind: nope}\n")
    out = io.StringIO()
    assert cli.simulate_main(bad, io.StringIO(""), out) == 1
    assert "unknown step kind 'nope'" in out.getvalue()


def test_an_order_store_that_fails_hands_the_caller_to_an_agent() -> None:
    class Down:
        def get(self, key: str) -> None:
            raise ConnectionError("database unavailable")

    talk = Conversation(FlowRunner(load_flow(FLOW)), sources={"orders": Down()})
    talk.start()
    talk.press("1")
    out = talk.press("12345")
    says = " ".join(e.text for e in out if isinstance(e, Say))
    assert "Sorry, I can't look up orders right now" in says and "couldn't find order" not in says
    transfers = [e for e in out if isinstance(e, TransferRequested)]
    assert [(t.queue, t.reason) for t in transfers] == [("support", "Order lookup failed for order 12345")]


def test_the_end_of_a_steps_hints_stands_for_every_option() -> None:
    # Whisper primes itself with only the end of long hints; it must not be all about one or two options.
    runner = FlowRunner(load_flow(FLOW))
    state, actions = runner.start("c1")
    (lookup,) = [a for a in actions if isinstance(a, LookupRequest)]  # caller ID: not a known customer
    state, _ = runner.handle(state, LookupResult("c1", request_id=lookup.request_id, found=False))
    _, actions = runner.handle(state, DtmfDigit("c1", digit="3"))  # store hours, then "anything else?"
    phrases = [a for a in actions if isinstance(a, Listen)][-1].phrases
    intents = runner.flow.intents
    assert len(phrases) == len(set(phrases)) == len({e for i in intents.values() for e in (i.label, *i.examples)})
    assert phrases[-len(intents):] == tuple(intents[n].label for n in ("yes", "no", "goodbye", "order_status",
                                                                       "returns", "store_hours", "agent"))
    tail = phrases[-60:]
    for intent in intents.values():
        assert sum(p in intent.examples for p in tail) >= 5, intent.name
