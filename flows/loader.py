"""Load a flow file: YAML with lines -> JSON Schema -> model -> semantic validation -> Flow."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from flows.conditions import ConditionSyntaxError, parse_condition
from flows.knowledge import KnowledgeBase, knowledge_for
from flows.model import (
    AnswerSettings,
    BranchStep,
    Choice,
    CollectStep,
    Flow,
    FlowValidationError,
    HangupStep,
    HttpStep,
    InputSettings,
    InputStep,
    Intent,
    LookupStep,
    PlayStep,
    Problem,
    SayStep,
    SetStep,
    Step,
    TransferRule,
    TransferStep,
    VoicemailStep,
)
from flows.schema import schema_problems
from flows.slots import SlotSpec
from flows.validator import validate
from flows.yaml_source import YamlDocument, read_yaml

DEFAULT_NO_MATCH = "Sorry, I didn't understand that."
DEFAULT_NO_INPUT = "Sorry, I didn't hear anything."


Knowledge = KnowledgeBase | Mapping[str, KnowledgeBase]


def load_flow(path: str | Path, knowledge: Knowledge | None = None) -> Flow:
    """Read and validate a flow file; raises FlowValidationError listing every problem with its line.

    A flow that names a knowledge base gets it attached: `knowledge` if given, else NAME.yaml beside the file.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowValidationError(str(p), [Problem(0, f"cannot read the flow file ({exc.strerror})",
                                                    "check the path")]) from exc
    return load_flow_text(text, str(p), knowledge if knowledge is not None else knowledge_for(p))


def load_flow_text(text: str, source: str = "<flow>", knowledge: Knowledge | None = None) -> Flow:
    """Validate flow YAML text; the flow's version is its name plus a hash of the text.

    `knowledge` (a knowledge base, or several by name) is checked against the name the flow gives and attached.
    """
    doc = read_yaml(text, source)
    problems = schema_problems(doc)
    if problems:
        raise FlowValidationError(source, problems)
    build_problems: list[Problem] = []
    flow = _build(doc, text, build_problems)
    problems = build_problems + validate(flow, doc)
    if flow.knowledge and knowledge is not None:
        kb = knowledge.get(flow.knowledge) if isinstance(knowledge, Mapping) else knowledge
        if kb is None or kb.name != flow.knowledge:
            have = ", ".join(sorted(knowledge) if isinstance(knowledge, Mapping) else [knowledge.name])
            problems.append(Problem(doc.line(("knowledge",)), f"the flow answers from knowledge base "
                                    f"'{flow.knowledge}', but the one given is {have or 'none'}",
                                    f"name the knowledge base here, or give '{flow.knowledge}'"))
        else:
            flow = replace(flow, knowledge_base=kb)
    if problems:
        raise FlowValidationError(source, problems)
    return flow


def _prompt(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


def _keys(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


def _settings(raw: dict[str, Any], defaults: dict[str, Any]) -> InputSettings:
    merged = {**defaults, **raw}
    channel = merged.get("input", "both")
    on_failure = defaults.get("on_failure", "")
    return InputSettings(
        prompt=_prompt(raw.get("prompt")),
        no_match_prompt=_prompt(merged.get("no_match_prompt", DEFAULT_NO_MATCH)),
        no_input_prompt=_prompt(merged.get("no_input_prompt", DEFAULT_NO_INPUT)),
        speech=channel in ("speech", "both"),
        dtmf=channel in ("dtmf", "both"),
        timeout=float(merged.get("timeout", 5.0)),
        no_input_retries=int(merged.get("no_input_retries", 1)),
        no_match_retries=int(merged.get("no_match_retries", 2)),
        on_no_input=str(merged.get("on_no_input", on_failure)),
        on_no_match=str(merged.get("on_no_match", on_failure)),
        barge_in=bool(merged.get("barge_in", True)),
        vad=tuple(sorted((str(k), float(v)) for k, v in (merged.get("vad") or {}).items())),
        confidence=float(merged.get("confidence", 0.5)),
        confirm_below=float(merged.get("confirm_below", 0.0)),
        into=str(raw.get("into", "")),
    )


def _answers(raw: dict[str, Any]) -> AnswerSettings | None:
    answers = raw.get("answers")
    return AnswerSettings(answers["next"], answers.get("no_answer", "")) if answers else None


def _intent_choices(raw: dict[str, Any], doc: YamlDocument, path: tuple[str, ...]) -> list[Choice]:
    return [
        Choice(next=str(target), intent=name, line=doc.line((*path, "intents", name)))
        for name, target in (raw.get("intents") or {}).items()
    ]


def _build_step(sid: str, raw: dict[str, Any], doc: YamlDocument, defaults: dict[str, Any],
                problems: list[Problem]) -> Step:
    kind = raw["kind"]
    path = ("steps", sid)
    line = doc.line(path)
    if kind == "say":
        return SayStep(sid, line, _prompt(raw["text"]), raw["next"], raw.get("barge_in", True))
    if kind == "play":
        return PlayStep(sid, line, raw["file"], raw.get("text", ""), raw["next"], raw.get("barge_in", True))
    if kind == "ask":
        choices = _intent_choices(raw, doc, path)
        for i, g in enumerate(raw.get("grammar") or []):
            choices.append(Choice(g["next"], _keys(g.get("keys")), "", tuple(g["phrases"]), g["value"],
                                  doc.line((*path, "grammar", i))))
        if not choices and not raw.get("answers"):
            problems.append(Problem(line, f"step '{sid}': an ask step needs 'intents', 'grammar' or 'answers'",
                                    "add 'intents: {intent_name: next_step}' or a 'grammar' list"))
        return InputStep(sid, line, _settings(raw, defaults), tuple(choices), answers=_answers(raw))
    if kind == "menu":
        choices = []
        for i, o in enumerate(raw["options"]):
            opt_line = doc.line((*path, "options", i))
            if not (o.get("keys") is not None or o.get("intent") or o.get("phrases")):
                problems.append(Problem(opt_line, f"step '{sid}': option {i + 1} has no keys, intent or phrases",
                                        "give it 'keys: \"1\"' and/or 'intent: name' or 'phrases: [...]'"))
            phrases = tuple(o.get("phrases") or ())
            value = o.get("intent") or (phrases[0] if phrases else "/".join(_keys(o.get("keys"))))
            choices.append(Choice(o["next"], _keys(o.get("keys")), o.get("intent", ""), phrases, value, opt_line))
        return InputStep(sid, line, _settings(raw, defaults), tuple(choices), menu=True, answers=_answers(raw))
    if kind == "collect":
        length = raw.get("length")
        slot = SlotSpec(raw["slot"], int(raw.get("min_length", length or 1)), int(raw.get("max_length", length or 32)))
        return CollectStep(sid, line, _settings(raw, defaults), slot, raw.get("terminator", "#"),
                           raw.get("confirm", ""), raw["next"], tuple(_intent_choices(raw, doc, path)),
                           raw.get("sensitive", False))
    if kind == "branch":
        conditions = []
        for i, c in enumerate(raw["conditions"]):
            c_line = doc.line((*path, "conditions", i))
            try:
                conditions.append((parse_condition(str(c["if"]).lower() if isinstance(c["if"], bool) else c["if"]),
                                   c["next"], c_line))
            except ConditionSyntaxError as exc:
                problems.append(Problem(c_line, f"step '{sid}': {exc}",
                                        'write e.g. order.status == "shipped" and visits.ask_order < 2'))
        return BranchStep(sid, line, tuple(conditions), raw["else"])
    if kind == "set":
        return SetStep(sid, line, tuple(raw["values"].items()), raw["next"])
    if kind == "http":
        return HttpStep(sid, line, raw.get("method", "GET"), raw["url"], tuple((raw.get("headers") or {}).items()),
                        raw.get("body"), float(raw.get("timeout", 3.0)), int(raw.get("retries", 1)),
                        tuple((raw.get("map") or {}).items()), raw["next"], raw["on_error"])
    if kind == "lookup":
        return LookupStep(sid, line, raw["source"], raw["key"], raw["into"], raw["next"], raw["not_found"],
                          raw.get("on_error", ""))
    if kind == "transfer":
        return TransferStep(sid, line, raw["queue"], raw.get("target", ""), int(raw.get("priority", 0)),
                            tuple(raw.get("skills") or ()), raw["reason"], _prompt(raw.get("text")),
                            _transfer_rules(sid, raw, doc, problems))
    if kind == "record_voicemail":
        return VoicemailStep(sid, line, _prompt(raw.get("text")), raw["mailbox"], float(raw.get("max_seconds", 120)),
                             raw.get("beep", True), raw.get("finish_keys", "#"), raw.get("into", ""), raw["next"])
    if kind == "hangup":
        return HangupStep(sid, line, _prompt(raw.get("text")), raw.get("reason", ""))
    raise AssertionError(kind)  # pragma: no cover - the schema only lets known kinds through


def _transfer_rules(
    sid: str, raw: dict[str, Any], doc: YamlDocument, problems: list[Problem]
) -> tuple[TransferRule, ...]:
    rules = []
    for i, r in enumerate(raw.get("when") or ()):
        r_line = doc.line(("steps", sid, "when", i))
        try:
            condition = parse_condition(str(r["if"]).lower() if isinstance(r["if"], bool) else r["if"])
        except ConditionSyntaxError as exc:
            problems.append(Problem(r_line, f"step '{sid}': {exc}",
                                    'write e.g. {if: customer.tier == "vip", priority: 10}'))
            continue
        priority = int(r["priority"]) if r.get("priority") is not None else None
        if priority is None and not r.get("skills"):
            problems.append(Problem(r_line, f"step '{sid}': this 'when' rule sets neither a priority nor skills",
                                    "add 'priority: N' (higher is answered first) and/or 'skills: [name]'"))
        rules.append(TransferRule(condition, priority, tuple(r.get("skills") or ()), r_line))
    return tuple(rules)


_Builder = Callable[[str, dict[str, Any], YamlDocument, dict[str, Any], list[Problem]], Step]


def _build(doc: YamlDocument, text: str, problems: list[Problem]) -> Flow:
    data = doc.data
    defaults = dict(data.get("defaults") or {})
    steps = {sid: _build_step(sid, raw, doc, defaults, problems) for sid, raw in data["steps"].items()}
    intents = {
        name: Intent(name, tuple(raw.get("examples") or ()), tuple(raw.get("keywords") or ()),
                     raw.get("label", name.replace("_", " ")), doc.line(("intents", name)))
        for name, raw in (data.get("intents") or {}).items()
    }
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return Flow(
        name=data["flow"],
        version=f"{data['flow']}@{digest}",
        start=data["start"],
        steps=steps,
        intents=intents,
        variables=dict(data.get("variables") or {}),
        source=doc.source,
        lines={sid: s.line for sid, s in steps.items()},
        knowledge=data.get("knowledge", ""),
        survey=bool(data.get("survey", False)),
    )
