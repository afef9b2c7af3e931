"""Step forms over a flow's YAML: which fields each step kind shows, and rewriting one step's block in place.

Only the edited step's lines change; comments and layout elsewhere in the file stay as the supervisor wrote
them. Keys the form does not know are kept (shown as YAML under the form).
"""

from __future__ import annotations

from typing import Any

import yaml

from flows.model import FlowValidationError
from flows.yaml_source import YamlDocument, read_yaml
from ivr.core.errors import IvrError
from ivr.web.flow_models import FormField, StepForm

KINDS = ("say", "menu", "ask", "collect", "branch", "lookup", "transfer", "hangup", "set", "http", "play",
         "record_voicemail")  # fmt: skip

_INPUT = [
    FormField(key="no_match_prompt", label="Said after a miss", type="prompts"),
    FormField(key="no_input_prompt", label="Said after silence", type="prompts"),
    FormField(key="input", label="Caller may answer by", type="choice", options=["both", "speech", "dtmf"]),
    FormField(key="timeout", label="Silence timeout (s)", type="number"),
    FormField(key="on_no_input", label="After too much silence go to", type="step", help="default: on_failure"),
    FormField(key="on_no_match", label="After too many misses go to", type="step", help="default: on_failure"),
    FormField(key="confidence", label="Minimum confidence (0 to 1)", type="number"),
    FormField(key="confirm_below", label="Confirm below confidence (0 to 1)", type="number"),
    FormField(key="barge_in", label="Caller may interrupt the prompt", type="bool"),
]
_PROMPT = FormField(key="prompt", label="Prompt (one per line)", type="prompts")
_TEXT = FormField(key="text", label="Says (one prompt per line)", type="prompts")
_NEXT = FormField(key="next", label="Then go to", type="step")
_INTENTS = FormField(key="intents", label="Intents", type="intentmap", help="what the caller means → next step")

FORMS: dict[str, list[FormField]] = {
    "say": [_TEXT, _NEXT, FormField(key="barge_in", label="Caller may interrupt", type="bool")],
    "play": [FormField(key="file", label="Audio file", type="text"),
             FormField(key="text", label="Transcript", type="text"), _NEXT],
    "menu": [_PROMPT, FormField(key="options", label="Options", type="options"), *_INPUT],
    "ask": [_PROMPT, _INTENTS, FormField(key="into", label="Store the answer in", type="text"), *_INPUT],
    "collect": [
        _PROMPT,
        FormField(key="slot", label="Collects", type="choice", options=["digits", "number", "yes_no", "date", "text"]),
        FormField(key="into", label="Store it in variable", type="text"),
        FormField(key="length", label="Exact length", type="integer"),
        FormField(key="confirm", label="Read back (confirm) prompt", type="text"),
        _NEXT, _INTENTS,
        FormField(key="terminator", label="End key", type="choice", options=["#", "*", ""]),
        FormField(key="sensitive", label="Sensitive (pause recording, mask input)", type="bool"),
        *_INPUT,
    ],
    "branch": [FormField(key="conditions", label="Conditions (first that holds wins)", type="conditions"),
               FormField(key="else", label="Otherwise go to", type="step")],
    "set": [_NEXT],
    "lookup": [
        FormField(key="source", label="Data source", type="text"),
        FormField(key="key", label="Key", type="text", help="e.g. {order_number}"),
        FormField(key="into", label="Store the record in", type="text"),
        FormField(key="next", label="Found: go to", type="step"),
        FormField(key="not_found", label="Not found: go to", type="step"),
        FormField(key="on_error", label="Source did not answer: go to", type="step"),
    ],
    "http": [
        FormField(key="method", label="Method", type="choice", options=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        FormField(key="url", label="URL", type="text"),
        FormField(key="next", label="Success: go to", type="step"),
        FormField(key="on_error", label="Error: go to", type="step"),
    ],
    "transfer": [
        _TEXT,
        FormField(key="queue", label="Queue", type="text"),
        FormField(key="priority", label="Priority", type="integer"),
        FormField(key="skills", label="Skills (comma-separated)", type="list"),
        FormField(key="reason", label="Reason shown to the agent", type="text"),
    ],
    "record_voicemail": [_TEXT, FormField(key="mailbox", label="Mailbox", type="text"),
                         FormField(key="max_seconds", label="Longest message (s)", type="number"), _NEXT],
    "hangup": [_TEXT, FormField(key="reason", label="Reason (logged)", type="text")],
}  # fmt: skip


class StepEditError(IvrError):
    """A form edit cannot be applied to the YAML as it is."""


class _Dumper(yaml.SafeDumper):
    """Block style with indented lists, short leaf collections inline: the style of the bundled flows."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


class _Block(dict[str, Any]):
    """A mapping always written in block style (a step itself, however short)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    # Text YAML would read as something else ("1", "yes", "null") is double-quoted, as the bundled flows do.
    looks_other = dumper.resolve(yaml.ScalarNode, value, (True, False)) != "tag:yaml.org,2002:str"
    quoted = looks_other or not dumper.analyze_scalar(value).allow_block_plain
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if quoted else None)


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    scalars = all(isinstance(v, str | int | float | bool) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value,
                                     flow_style=scalars and sum(len(str(v)) + 2 for v in value) < 60)  # fmt: skip


def _dict(dumper: yaml.SafeDumper, value: dict[str, Any]) -> yaml.MappingNode:
    scalars = all(
        isinstance(v, str | int | float | bool)
        or (isinstance(v, list) and all(isinstance(x, str | int | float | bool) for x in v))
        for v in value.values()
    )
    short = sum(len(str(k)) + len(str(v)) + 4 for k, v in value.items()) < 80
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=scalars and short and len(value) > 0)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(list, _list)
_Dumper.add_representer(dict, _dict)
_Dumper.add_representer(_Block, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=False))


def dump(value: Any) -> str:
    """YAML text of `value` in the bundled flows' style."""
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110, indent=2)


def step_spans(doc: YamlDocument, text: str) -> dict[str, tuple[int, int]]:
    """1-based first and last line of each step's block (trailing blank and comment lines belong to the next)."""
    data = doc.data if isinstance(doc.data, dict) else {}
    steps = data.get("steps")
    if not isinstance(steps, dict) or not steps:
        return {}
    lines = text.splitlines()
    steps_line = doc.lines.get(("steps",), 0)
    later = sorted(doc.lines[(k,)] for k in data if (k,) in doc.lines and doc.lines[(k,)] > steps_line)
    steps_end = (later[0] - 1) if later else len(lines)
    starts = [(doc.lines.get(("steps", sid), 0), sid) for sid in steps]
    spans: dict[str, tuple[int, int]] = {}
    for i, (start, sid) in enumerate(starts):
        end = starts[i + 1][0] - 1 if i + 1 < len(starts) else steps_end
        while end > start and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        spans[sid] = (start, max(start, end))
    return spans


def _as_prompts(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def form_of(sid: str, raw: Any, span: tuple[int, int]) -> StepForm:
    """The form data of one parsed step."""
    raw = raw if isinstance(raw, dict) else {}
    kind = str(raw.get("kind", ""))
    fields: dict[str, Any] = {}
    known = {f.key: f for f in FORMS.get(kind, [])}
    for key, spec in known.items():
        value = raw.get(key)
        if spec.type == "prompts":
            fields[key] = _as_prompts(value)
        elif spec.type == "options":
            fields[key] = [
                {"keys": "/".join(str(k) for k in o["keys"]) if isinstance(o.get("keys"), list) else
                 ("" if o.get("keys") is None else str(o.get("keys"))),
                 "intent": str(o.get("intent", "")), "phrases": [str(p) for p in o.get("phrases") or []],
                 "next": str(o.get("next", ""))}
                for o in (value if isinstance(value, list) else []) if isinstance(o, dict)
            ]  # fmt: skip
        elif spec.type == "intentmap":
            fields[key] = [{"intent": str(k), "next": str(v)} for k, v in (value.items() if isinstance(value, dict)
                                                                           else ())]  # fmt: skip
        elif spec.type == "conditions":
            fields[key] = [{"if": str(c.get("if", "")), "next": str(c.get("next", ""))}
                           for c in (value if isinstance(value, list) else []) if isinstance(c, dict)]  # fmt: skip
        elif spec.type == "list":
            fields[key] = [str(v) for v in value] if isinstance(value, list) else []
        else:
            fields[key] = value
    rest = {k: v for k, v in raw.items() if k != "kind" and k not in known}
    return StepForm(id=sid, kind=kind, line=span[0], end_line=span[1], fields=fields, extra=dump(rest) if rest else "")


def _clean(spec: FormField, value: Any) -> Any:
    """A form value as YAML data; None means: leave the key out."""
    if value is None or value == "" or value == []:
        return None
    t = spec.type
    if t == "prompts":
        prompts = [str(p).strip() for p in (value if isinstance(value, list) else [value]) if str(p).strip()]
        return None if not prompts else prompts[0] if len(prompts) == 1 else prompts
    if t in ("number", "integer"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise StepEditError(f"{spec.label}: {value!r} is not a number") from None
        return int(number) if t == "integer" or number.is_integer() else number
    if t == "bool":
        return value if isinstance(value, bool) else str(value).lower() in ("true", "yes", "1")
    if t == "list":
        items = value if isinstance(value, list) else str(value).split(",")
        return [s for s in (str(v).strip() for v in items) if s] or None
    if t == "options":
        out = []
        for o in value:
            option: dict[str, Any] = {}
            keys = str(o.get("keys") or "").strip()
            if keys:
                option["keys"] = keys if "/" not in keys else [k.strip() for k in keys.split("/") if k.strip()]
            if o.get("intent"):
                option["intent"] = str(o["intent"]).strip()
            phrases = [str(p).strip() for p in o.get("phrases") or [] if str(p).strip()]
            if phrases:
                option["phrases"] = phrases
            option["next"] = str(o.get("next") or "").strip()
            out.append(option)
        return out or None
    if t == "intentmap":
        return {str(i["intent"]).strip(): str(i.get("next") or "").strip() for i in value if i.get("intent")} or None
    if t == "conditions":
        return [{"if": str(c.get("if") or "").strip(), "next": str(c.get("next") or "").strip()} for c in value] or None
    return str(value) if not isinstance(value, str) else value.strip() or None


def step_mapping(kind: str, fields: dict[str, Any], extra: str, old: dict[str, Any]) -> dict[str, Any]:
    """The step's new YAML mapping: the original key order kept, form fields replaced, `extra` merged in."""
    try:
        rest = yaml.safe_load(extra) if extra.strip() else {}
    except yaml.YAMLError as exc:
        raise StepEditError(f"the other fields are not valid YAML: {exc}") from None
    if not isinstance(rest, dict):
        raise StepEditError("the other fields must be 'key: value' lines")
    values: dict[str, Any] = dict(rest)
    for spec in FORMS.get(kind, []):
        values[spec.key] = _clean(spec, fields.get(spec.key))
    ordered: dict[str, Any] = {"kind": kind}
    for key in [*old, *values]:
        if key != "kind" and key not in ordered and values.get(key) is not None:
            ordered[key] = values[key]
    return ordered


def edit_step(text: str, sid: str, kind: str, fields: dict[str, Any] | None, extra: str) -> tuple[str, int]:
    """`text` with step `sid` rewritten (fields None: deleted; unknown sid: added at the end); and its line."""
    try:
        doc = read_yaml(text, "<draft>")
    except FlowValidationError as exc:
        line = exc.problems[0].line if exc.problems else 1
        raise StepEditError(f"fix the YAML first (line {line}: {exc.problems[0].message}), then use the form") from None
    data = doc.data if isinstance(doc.data, dict) else {}
    steps = data.get("steps")
    if not isinstance(steps, dict):
        raise StepEditError("the flow has no 'steps' mapping yet; add one in the YAML")
    spans = step_spans(doc, text)
    if len({s for s, _ in spans.values()}) != len(spans) or any(s == doc.lines.get(("steps",)) for s, _ in
                                                                   spans.values()):  # fmt: skip
        raise StepEditError("the steps are written inline ({...}); the form edits only one-step-per-block YAML")
    lines = text.splitlines()
    old = steps.get(sid)
    if old is None and fields is None:
        raise StepEditError(f"there is no step '{sid}' to delete")
    if old is not None and not isinstance(old, dict):
        raise StepEditError(f"step '{sid}' is not a mapping; fix it in the YAML")
    kind = kind or (str(old.get("kind", "")) if old else "")
    if kind not in KINDS:
        raise StepEditError(f"unknown step kind {kind!r}; use one of {', '.join(KINDS)}")
    if old is not None:
        start, end = spans[sid]
        indent = lines[start - 1][: len(lines[start - 1]) - len(lines[start - 1].lstrip())]
    else:
        start = end = max(e for _, e in spans.values()) + 1
        first = lines[min(s for s, _ in spans.values()) - 1]
        indent = first[: len(first) - len(first.lstrip())]
    block: list[str] = []
    if fields is not None:
        mapping = step_mapping(kind, fields, extra, old or {})
        block = [indent + line for line in dump({sid: _Block(mapping)}).splitlines()]
    if old is None:
        new = [*lines[: start - 1], "", *block, *lines[start - 1 :]]
        start += 1
    elif fields is None:
        gap = 1 if start > 1 and not lines[start - 2].strip() else 0
        new = [*lines[: start - 1 - gap], *lines[end:]]
    else:
        new = [*lines[: start - 1], *block, *lines[end:]]
    return "\n".join(new) + ("\n" if text.endswith("\n") or not text else ""), start
