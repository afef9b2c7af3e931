"""Entry points for `ivr flows validate|simulate|test`; each returns a process exit code."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from flows.flowtest import CaseResult, run_test_file, tests_for
from flows.knowledge import knowledge_warnings, load_knowledge
from flows.loader import load_flow
from flows.model import FlowValidationError, Problem
from flows.runner import FlowRunner
from flows.simulator import Simulator
from flows.yaml_source import read_yaml
from ivr.core.errors import FlowError


def validate_main(path: str | Path, stdout: TextIO | None = None) -> int:
    """Check a flow file (with its knowledge base) or a knowledge base file; print every problem with its line
    and fix, then warnings. 0 valid (warnings allowed), 1 invalid."""
    out = stdout or sys.stdout
    try:
        if _is_knowledge_file(Path(path)):
            alone = load_knowledge(path)
            out.write(f"{path}: ok — knowledge base {alone.version}, {len(alone.entries)} entries\n")
            return _warn(knowledge_warnings(alone), alone.source, out)
        flow = load_flow(path)
    except FlowValidationError as exc:
        for problem in exc.problems:
            out.write(problem.describe(exc.source) + "\n")
        what = "knowledge base" if _is_knowledge_file(Path(exc.source)) else "flow"
        out.write(f"{exc.source}: {len(exc.problems)} problem(s); this {what} cannot go live\n")
        return 1
    inputs = sum(1 for s in flow.steps.values() if s.kind in ("ask", "menu", "collect"))
    kb = flow.knowledge_base
    answers = f"; knowledge base {kb.version}, {len(kb.entries)} entries" if kb is not None else ""
    out.write(f"{path}: ok — flow {flow.version}, {len(flow.steps)} steps ({inputs} take input), "
              f"{len(flow.intents)} intents{answers}\n")
    return _warn(knowledge_warnings(kb, flow), kb.source, out) if kb is not None else 0


def _is_knowledge_file(path: Path) -> bool:
    """A knowledge base rather than a flow: its top level has 'entries' and no 'steps'."""
    try:
        data = read_yaml(path.read_text(encoding="utf-8"), str(path)).data
    except (OSError, FlowValidationError):
        return False  # the flow loader reports what is wrong with it
    return isinstance(data, dict) and "entries" in data and "steps" not in data


def _warn(warnings: list[Problem], source: str, out: TextIO) -> int:
    for problem in warnings:
        out.write(problem.describe(source) + "\n")
    if warnings:
        out.write(f"{source}: {len(warnings)} warning(s); it can go live, but callers may get the wrong answer\n")
    return 0


def simulate_main(path: str | Path, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run a flow interactively in the terminal. 0 when the session ends, 1 if the flow is invalid."""
    out = stdout or sys.stdout
    try:
        runner = FlowRunner(load_flow(path))
    except FlowValidationError as exc:
        out.write(str(exc) + "\n")
        return 1
    return Simulator(runner, stdin or sys.stdin, out).run()


def _test_files(paths: Sequence[str | Path]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found += sorted(p.glob("*.tests.yaml"))
        elif p.name.endswith(".tests.yaml"):
            found.append(p)
        else:
            found.append(tests_for(p))
    return found


def test_main(paths: Sequence[str | Path], stdout: TextIO | None = None, verbose: bool = False) -> int:
    """Run flow test cases (test files, flow files with a sibling .tests.yaml, or directories). 0 all pass."""
    out = stdout or sys.stdout
    files = _test_files(paths or ["flows"])
    passed = failed = 0

    def report(result: CaseResult) -> None:
        out.write(f"{'PASS' if result.passed else 'FAIL'}  {result.name}\n")
        if not result.passed:
            out.write(f"      {result.failure}\n")
        if verbose or not result.passed:
            out.write("".join(f"        {line}\n" for line in result.transcript))

    for f in files:
        if not f.exists():
            out.write(f"{f}: no such test file; flow tests live beside the flow as NAME.tests.yaml\n")
            failed += 1
            continue
        out.write(f"{f}\n")
        try:
            results = run_test_file(f, report)
        except FlowError as exc:
            out.write(f"{exc}\n")
            failed += 1
            continue
        passed += sum(r.passed for r in results)
        failed += sum(not r.passed for r in results)
    out.write(f"{passed} passed, {failed} failed\n")
    return 0 if failed == 0 and passed > 0 else 1


@dataclass(frozen=True)
class Publishable:
    """A flow or knowledge base file that passed its checks, ready to be stored as a version."""

    source: str
    name: str
    kind: str  # "flow" or "knowledge" (flowstore.KINDS)


def publish_check(path: str | Path, stdout: TextIO | None = None) -> Publishable | None:
    """Validate a flow or knowledge base file and run the test cases that cover it; None (reasons printed) if not.

    A flow's cases are NAME.tests.yaml beside it; a knowledge base's are those of every flow beside it that
    answers from it (they load the knowledge base from beside them, so they test this text).
    """
    out = stdout or sys.stdout
    p = Path(path)
    if validate_main(p, out) != 0:
        return None
    source = p.read_text(encoding="utf-8")
    if _is_knowledge_file(p):
        checked = Publishable(source, load_knowledge(p).name, "knowledge")
        tests = [tests_for(f) for f in _flows_answering_from(p.parent, checked.name)]
    else:
        checked = Publishable(source, load_flow(p).name, "flow")
        tests = [tests_for(p)]
    tests = [t for t in tests if t.exists()]
    if not tests:
        out.write(f"{p}: no test cases cover it; publishing on validation alone\n")
        return checked
    failed = total = 0

    def report(result: CaseResult) -> None:
        nonlocal failed
        if not result.passed:
            failed += 1
            out.write(f"FAIL  {result.name}\n      {result.failure}\n")
            out.write("".join(f"        {line}\n" for line in result.transcript))

    for t in tests:
        try:
            total += len(run_test_file(t, report))
        except FlowError as exc:
            out.write(f"{exc}\n")
            return None
    names = ", ".join(str(t) for t in tests)
    if failed:
        out.write(f"{names}: {failed} of {total} test case(s) failed; fix the {checked.kind} or the tests, then "
                  "publish\n")  # fmt: skip
        return None
    out.write(f"{names}: {total} test case(s) passed\n")
    return checked


def _flows_answering_from(directory: Path, knowledge: str) -> list[Path]:
    """Flow files in `directory` that name the knowledge base `knowledge`."""
    found = []
    for f in sorted(directory.glob("*.yaml")):
        if f.name.endswith(".tests.yaml"):
            continue
        try:
            data = read_yaml(f.read_text(encoding="utf-8"), str(f)).data
        except (OSError, FlowValidationError):
            continue
        if isinstance(data, dict) and "steps" in data and data.get("knowledge") == knowledge:
            found.append(f)
    return found
