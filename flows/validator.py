"""Semantic checks a schema cannot express: targets, reachability, input-less loops, variables, intents."""

from __future__ import annotations

import difflib
from typing import Any

from flows.model import (
    BranchStep,
    CollectStep,
    Flow,
    HttpStep,
    InputStep,
    LookupStep,
    Problem,
    SetStep,
    Step,
    TransferStep,
    VoicemailStep,
)
from flows.prompts import TemplateSyntaxError, placeholders, shares_value
from flows.yaml_source import Path, YamlDocument

# Variables every call has, set by the session or the runner itself.
BUILTIN_VARIABLES = frozenset({"caller", "callee", "call_id", "visits", "flow"})
_WAITS_FOR_CALLER = (InputStep, CollectStep, VoicemailStep)


def validate(flow: Flow, doc: YamlDocument) -> list[Problem]:
    """Every semantic problem of a built flow, each with the line and a fix."""
    problems: list[Problem] = []
    ids = list(flow.steps)
    if flow.start not in flow.steps:
        problems.append(Problem(doc.line(("start",)), f"start step '{flow.start}' does not exist",
                                f"{_suggest(flow.start, ids)}set 'start' to one of: {', '.join(ids)}"))
    for step in flow.steps.values():
        problems += _target_problems(step, flow, doc)
        problems += _intent_problems(step, flow)
        if isinstance(step, InputStep) and step.answers is not None and not flow.knowledge:
            problems.append(Problem(doc.line(("steps", step.id, "answers")),
                                    f"step '{step.id}' answers questions, but the flow names no knowledge base",
                                    "add 'knowledge: NAME' at the top (NAME.yaml beside the flow holds the answers)"))
    problems += _intent_definition_problems(flow)
    if problems:
        return problems  # the graph checks below need every edge to land on a step
    problems += _unreachable(flow)
    problems += _input_less_loops(flow)
    problems += _variable_problems(flow, doc)
    problems += _read_back_problems(flow, doc)
    return problems


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


def _edge_line(step: Step, label: str, doc: YamlDocument) -> int:
    if label.startswith("choice:") and isinstance(step, InputStep | CollectStep):
        name = label.split(":", 1)[1]
        for c in step.choices:
            if c.name == name or "/".join(c.keys) == name:
                return c.line
    if label in ("answers", "no_answer"):
        return doc.line(("steps", step.id, "answers", "next" if label == "answers" else "no_answer"))
    field = {"else": "else"}.get(label, label)
    if label.startswith("if:") and isinstance(step, BranchStep):
        for cond, _, line in step.conditions:
            if label == f"if:{cond.source}":
                return line
    return doc.line(("steps", step.id, field))


def _target_problems(step: Step, flow: Flow, doc: YamlDocument) -> list[Problem]:
    out = []
    ids = list(flow.steps)
    for label, target in step.edges():
        line = _edge_line(step, label, doc)
        if not target:
            field = label if label.startswith("on_") else "next"
            out.append(Problem(line, f"step '{step.id}' has no '{field}' target: the call would be stuck",
                               f"add '{field}: <step>' here, or 'on_failure: <step>' under 'defaults'"))
        elif target not in flow.steps:
            out.append(Problem(line, f"step '{step.id}' goes to '{target}', which is not a step",
                               f"{_suggest(target, ids)}define step '{target}' or point to an existing step"))
    return out


def _intent_problems(step: Step, flow: Flow) -> list[Problem]:
    if not isinstance(step, InputStep | CollectStep):
        return []
    out = []
    seen_keys: dict[str, int] = {}
    names = list(flow.intents)
    for c in step.choices:
        if c.intent and c.intent not in flow.intents:
            out.append(Problem(c.line, f"step '{step.id}' uses intent '{c.intent}', which is not defined",
                               f"{_suggest(c.intent, names)}add it under 'intents' with examples"))
        for key in c.keys:
            if key in seen_keys:
                out.append(Problem(c.line, f"step '{step.id}': key '{key}' is used twice",
                                   f"give each option its own keys (first use on line {seen_keys[key]})"))
            seen_keys[key] = c.line
    return out


def _intent_definition_problems(flow: Flow) -> list[Problem]:
    return [
        Problem(i.line, f"intent '{i.name}' has no examples, so it can never be recognized",
                "add 'examples:' with a few ways a caller would say it")
        for i in flow.intents.values() if not i.examples
    ]


def _reachable(flow: Flow) -> list[str]:
    seen = [flow.start]
    stack = [flow.start]
    while stack:
        for _, target in flow.steps[stack.pop()].edges():
            if target not in seen:
                seen.append(target)
                stack.append(target)
    return seen


def _unreachable(flow: Flow) -> list[Problem]:
    reached = set(_reachable(flow))
    return [
        Problem(s.line, f"step '{s.id}' is unreachable from start step '{flow.start}'",
                "point a step's next/option at it, or delete it")
        for s in flow.steps.values() if s.id not in reached
    ]


def _input_less_loops(flow: Flow) -> list[Problem]:
    """Cycles among steps that never wait for the caller would spin forever."""
    graph = {
        sid: [t for _, t in s.edges() if not isinstance(flow.steps[t], _WAITS_FOR_CALLER)]
        for sid, s in flow.steps.items() if not isinstance(s, _WAITS_FOR_CALLER)
    }
    problems, reported = [], set()
    state: dict[str, int] = {}
    trail: list[str] = []

    def visit(sid: str) -> None:
        state[sid] = 1
        trail.append(sid)
        for target in graph.get(sid, []):
            if state.get(target) == 1:
                cycle = trail[trail.index(target):]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    path = " -> ".join([*cycle, target])
                    problems.append(Problem(flow.steps[target].line, f"loop without caller input: {path}",
                                            "put an ask, menu or collect step in the loop, or break it"))
            elif target not in state:
                visit(target)
        trail.pop()
        state[sid] = 2

    for sid in graph:
        if sid not in state:
            visit(sid)
    return problems


def _must_defined(flow: Flow) -> dict[str, frozenset[str]]:
    """Variables set on every path from the start to each step (a forward must-analysis)."""
    entry = frozenset(BUILTIN_VARIABLES | set(flow.variables))
    defined: dict[str, frozenset[str]] = {flow.start: entry}
    work = [flow.start]
    while work:
        sid = work.pop()
        step = flow.steps[sid]
        for label, target in step.edges():
            out = defined[sid] | set(step.defines(label))
            new = out if target not in defined else defined[target] & out
            if defined.get(target) != new:
                defined[target] = new
                work.append(target)
    return defined


def _is_defined(path: str, names: frozenset[str]) -> bool:
    parts = path.split(".")
    return any(".".join(parts[: i + 1]) in names for i in range(len(parts)))


def _line_of_text(doc: YamlDocument, sid: str, text: str) -> int:
    def find(value: Any, path: Path) -> Path | None:
        if value == text:
            return path
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for k, v in items:
            hit = find(v, (*path, k))
            if hit is not None:
                return hit
        return None

    found = find(doc.data["steps"][sid], ("steps", sid))
    return doc.line(found if found is not None else ("steps", sid))


def _variable_problems(flow: Flow, doc: YamlDocument) -> list[Problem]:
    defined = _must_defined(flow)
    problems = []
    for sid, step in flow.steps.items():
        names = defined.get(sid, frozenset())
        checks: list[tuple[str, frozenset[str]]] = [(t, names) for t in step.templates()]
        if isinstance(step, CollectStep) and step.confirm:
            checks[-1] = (step.confirm, names | {step.settings.into})
        if isinstance(step, HttpStep | LookupStep):
            checks = [(t, names) for t in step.templates()]
        for template, available in checks:
            try:
                refs = [p.path for p in placeholders(template)]
            except TemplateSyntaxError as exc:
                problems.append(Problem(_line_of_text(doc, sid, template), f"step '{sid}': {exc}",
                                        "fix the braces in this prompt"))
                continue
            for path in refs:
                if not _is_defined(path, available):
                    problems.append(_undefined(doc, sid, template, path, available))
        conditions = [(c, line) for c, _, line in step.conditions] if isinstance(step, BranchStep) else []
        if isinstance(step, TransferStep):
            conditions = [(rule.condition, rule.line) for rule in step.when]
        for cond, line in conditions:
            for path in cond.paths:
                if not _is_defined(path, names):
                    problems.append(Problem(line, f"step '{sid}': condition reads '{path}', which is not set "
                                                  "on every path to this step",
                                            "set it earlier, or declare it under 'variables' with a default"))
    return problems


def _read_back_problems(flow: Flow, doc: YamlDocument) -> list[Problem]:
    """A prompt outside a sensitive step must not speak a sensitive value: the recording is not paused there."""
    secrets = {s.settings.into: s.id for s in flow.steps.values() if isinstance(s, CollectStep) and s.sensitive}
    problems = []
    for sid, step in flow.steps.items():
        if (isinstance(step, CollectStep) and step.sensitive) or isinstance(step, HttpStep | LookupStep | SetStep):
            continue
        spoken = list(step.text) if isinstance(step, TransferStep) else step.templates()  # a reason is not spoken
        for template in spoken:
            try:
                refs = [p.path for p in placeholders(template)]
            except TemplateSyntaxError:
                continue  # reported by _variable_problems
            for path in refs:
                name = next((n for n in secrets if shares_value(path, n)), None)
                if name is not None:
                    problems.append(Problem(
                        _line_of_text(doc, sid, template),
                        f"step '{sid}': prompt speaks '{{{path}}}', which sensitive step '{secrets[name]}' "
                        "collects; the recording is not paused here",
                        f"read it back only in the 'confirm' of step '{secrets[name]}', or leave it out",
                    ))
    return problems


def _undefined(doc: YamlDocument, sid: str, template: str, path: str, available: frozenset[str]) -> Problem:
    hint = _suggest(path, sorted(available))
    return Problem(_line_of_text(doc, sid, template),
                   f"step '{sid}': prompt uses '{{{path}}}', which is not set on every path to this step",
                   f"{hint}set it in an earlier step (collect/set/lookup/http 'into' or 'map'), "
                   "or declare it under 'variables' with a default")
