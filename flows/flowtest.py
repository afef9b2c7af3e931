"""Flow test cases: small YAML scripts of caller input and expected prompts and actions, shipped next to each flow.

    flow: acme_retail.yaml
    cases:
      - name: store hours by key
        script:
          - expect: Thank you for calling Acme
          - dtmf: "3"
          - expect: Monday to Saturday
          - caller: goodbye
          - expect_end: hangup
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows.conversation import Conversation
from flows.customers import MemoryCustomers
from flows.loader import load_flow
from flows.model import FlowValidationError, Problem
from flows.orders import MemoryDataSource, demo_sources
from flows.prompts import lookup
from flows.runner import FlowRunner
from flows.yaml_source import read_yaml
from ivr.core.errors import FlowError
from ivr.core.events import Event, HangupRequested, HttpRequest, IntentDetected, LookupRequest, Say, TransferRequested

INPUTS = ("caller", "dtmf", "silence", "hangup", "http")


@dataclass
class CaseResult:
    """The outcome of one test case; `failure` says what differed and where."""

    name: str
    passed: bool
    failure: str = ""
    transcript: list[str] = field(default_factory=list)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _describe(event: Event) -> str:
    if isinstance(event, Say):
        return f"IVR: {event.text}"
    if isinstance(event, IntentDetected):
        return f"[{event.source} {event.text!r} -> {event.intent or 'no match'} {event.confidence:.2f}]"
    if isinstance(event, TransferRequested):
        return f"[transfer queue={event.queue} priority={event.priority} reason={event.reason!r}]"
    if isinstance(event, HangupRequested):
        return f"[hangup reason={event.reason!r}]"
    if isinstance(event, LookupRequest):
        return f"[lookup {event.source} {event.key!r}]"
    if isinstance(event, HttpRequest):
        return f"[http {event.method} {event.url}]"
    return f"[{event.kind}]"


class _Case:
    def __init__(self, runner: FlowRunner, raw: dict[str, Any]) -> None:
        sources = demo_sources()
        for name, records in (raw.get("data") or {}).items():
            # Customers are given as in the table (by id, with their numbers); they are found by number.
            sources[name] = MemoryCustomers(records) if name == "customers" else MemoryDataSource(records)
        self.talk = Conversation(runner, call_id="test-1", sources=sources, variables=raw.get("variables"))
        self.recent: list[Event] = []

    def feed(self, key: str, value: Any) -> None:
        if key == "caller":  # 'words', or {text: words, confidence: 0.4} for a recognizer that was unsure
            said = value if isinstance(value, dict) else {"text": value}
            self.recent = self.talk.say(str(said.get("text", "")), float(said.get("confidence", 1.0)))
        elif key == "dtmf":
            self.recent = self.talk.press(str(value))
        elif key == "silence":
            self.recent = self.talk.silence()
        elif key == "hangup":
            self.recent = self.talk.hangup()
        elif key == "http":
            body = value.get("body", "")
            self.recent = self.talk.answer_http(int(value.get("status", 200)),
                                                body if isinstance(body, str) else json.dumps(body),
                                                str(value.get("error", "")))

    def check(self, key: str, value: Any) -> str:
        """'' when the expectation holds, else what was seen instead."""
        says = [e.text for e in self.recent if isinstance(e, Say)]
        state = self.talk._current()
        if key == "expect":
            return "" if any(_norm(str(value)) in _norm(s) for s in says) else (
                f"expected the IVR to say {str(value)!r}; it said {says}")
        if key == "expect_not":
            return f"expected the IVR not to say {str(value)!r}; it said {says}" if any(
                _norm(str(value)) in _norm(s) for s in says) else ""
        if key == "expect_intent":
            found = [e for e in self.recent if isinstance(e, IntentDetected)]
            got = found[-1].intent if found else None
            return "" if got == value else f"expected intent {value!r}, detected {got!r}"
        if key == "expect_step":
            return "" if state.step == value else f"expected to be at step {value!r}, at {state.step!r}"
        if key == "expect_vars":
            wrong = {k: lookup(state.variables, k) for k, v in value.items()
                     if str(lookup(state.variables, k)) != str(v)}
            return "" if not wrong else f"expected variables {value}, got {wrong}"
        if key == "expect_end":
            return "" if state.done and state.ended_by == value else (
                f"expected the call to end by {value!r}; status {state.status!r} ended_by {state.ended_by!r}")
        if key == "expect_transfer":
            transfers = [e for e in self.recent if isinstance(e, TransferRequested)]
            if not transfers:
                return "expected a transfer; none happened"
            want = {"queue": value} if isinstance(value, str) else dict(value)
            transfer = transfers[-1]
            for k, v in want.items():
                actual = getattr(transfer, k)
                ok = (_norm(str(v)) in _norm(actual)) if k == "reason" else (
                    list(actual) == list(v) if k == "skills" else actual == v)
                if not ok:
                    return f"expected transfer {k}={v!r}, got {actual!r}"
            return ""
        if key == "expect_hangup":
            hangups = [e for e in self.recent if isinstance(e, HangupRequested)]
            return "" if hangups else "expected the IVR to hang up; it did not"
        if key == "expect_lookup":
            lookups = [e for e in self.recent if isinstance(e, LookupRequest)]
            return "" if any(e.key == str(value) for e in lookups) else (
                f"expected a lookup of {value!r}; saw {[e.key for e in lookups]}")
        if key == "expect_http":
            requests = [e for e in self.recent if isinstance(e, HttpRequest)]
            return "" if any(str(value) in e.url for e in requests) else (
                f"expected an HTTP request to a URL containing {value!r}; saw {[e.url for e in requests]}")
        raise FlowError(f"unknown test step {key!r}; use one of {', '.join(INPUTS + tuple(_CHECKS))}")


_CHECKS = ("expect", "expect_not", "expect_intent", "expect_step", "expect_vars", "expect_end", "expect_transfer",
           "expect_hangup", "expect_lookup", "expect_http")


def tests_for(flow_path: Path) -> Path:
    """Where a flow's test cases live: `name.tests.yaml` beside `name.yaml`."""
    return flow_path.with_name(flow_path.stem + ".tests.yaml")


def run_test_file(
    path: str | Path, on_case: Callable[[CaseResult], None] | None = None, *, runner: FlowRunner | None = None
) -> list[CaseResult]:
    """Run every case of a test file against the flow it names (relative to the test file), or against `runner`.

    The console passes the runner of an unpublished draft, so the cases check the draft before it goes live.
    """
    p = Path(path)
    doc = read_yaml(p.read_text(encoding="utf-8"), str(p))
    data = doc.data if isinstance(doc.data, dict) else {}
    if "flow" not in data or not isinstance(data.get("cases"), list):
        raise FlowValidationError(str(p), [Problem(1, "a flow test file needs 'flow: FILE' and a 'cases' list",
                                                   "see flows/acme_retail.tests.yaml")])
    if runner is None:
        runner = FlowRunner(load_flow(p.parent / str(data["flow"])))
    results = []
    for i, raw in enumerate(data["cases"]):
        name = str(raw.get("name", f"case {i + 1}"))
        case = _Case(runner, raw)
        case.recent = case.talk.start()
        result = CaseResult(name, True)
        for j, item in enumerate(raw.get("script") or []):
            line = doc.line(("cases", i, "script", j))
            if not isinstance(item, dict) or len(item) != 1:
                raise FlowValidationError(str(p), [Problem(line, "each script line is one 'key: value'",
                                                           "e.g. '- caller: where is my order' or '- expect: ...'")])
            (key, value), = item.items()
            try:
                if key in INPUTS:
                    case.feed(key, value)
                    continue
                problem = case.check(key, value)
            except (RuntimeError, FlowError) as exc:
                problem = str(exc)
            if problem:
                result = CaseResult(name, False, f"{p}:{line}: {problem}")
                break
        result.transcript = [_describe(e) for e in case.talk.log]
        results.append(result)
        if on_case is not None:
            on_case(result)
    return results
