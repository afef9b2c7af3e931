"""Adding reviewers' corrected phrases to a flow's intent examples by editing only those lists in its YAML.

The rest of the file (comments, order, quoting, other intents) stays as the supervisor wrote it; the new
text is parsed again and must differ from the old only in the examples lists that were meant to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from flows.model import FlowValidationError
from flows.yaml_source import YamlDocument, read_yaml
from ivr.core.errors import IvrError


class ExampleEditError(IvrError):
    """The flow's YAML cannot take new intent examples as it is."""


@dataclass(frozen=True)
class Skipped:
    """A phrase not added, and why."""

    intent: str
    text: str
    reason: str


@dataclass
class ExampleEdit:
    """The new YAML, what went into which intent, and what was left out."""

    source: str
    added: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)


def normalize(text: str) -> str:
    """A phrase as the duplicate check compares it: lower case, words only, single spaces."""
    return " ".join(re.findall(r"[\w']+", text.lower()))


def add_examples(text: str, additions: list[tuple[str, str]]) -> ExampleEdit:
    """`text` with each (intent, phrase) appended to `intents.<intent>.examples`; duplicates and unknowns skipped."""
    doc = _read(text)
    intents = doc.data.get("intents") if isinstance(doc.data, dict) else None
    if not isinstance(intents, dict) or not intents:
        raise ExampleEditError("the flow defines no 'intents' mapping; add intents in the flow editor first")
    known = {normalize(str(ex)): name for name, raw in intents.items() if isinstance(raw, dict)
             for ex in (raw.get("examples") or [])}  # fmt: skip
    wanted: dict[str, list[str]] = {}
    result = ExampleEdit(source=text)
    for intent, phrase in additions:
        phrase = " ".join(phrase.split())
        key = normalize(phrase)
        if not isinstance(intents.get(intent), dict):
            result.skipped.append(Skipped(intent, phrase, f"the flow has no intent '{intent}' with examples"))
        elif not key:
            result.skipped.append(Skipped(intent, phrase, "the phrase has no words"))
        elif key in known:
            owner = known[key]
            why = "already an example" if owner == intent else f"already an example of '{owner}'"
            result.skipped.append(Skipped(intent, phrase, why))
        else:
            known[key] = intent
            wanted.setdefault(intent, []).append(phrase)
    for intent, phrases in wanted.items():
        text = _append(text, intent, phrases)
        result.added[intent] = phrases
    _check(doc, _read(text), wanted)
    result.source = text
    return result


def _read(text: str) -> YamlDocument:
    try:
        return read_yaml(text, "<draft>")
    except FlowValidationError as exc:
        p = exc.problems[0]
        raise ExampleEditError(f"the draft's YAML does not parse (line {p.line}: {p.message}); fix it in the "
                               "flow editor, then add the examples") from None  # fmt: skip


def _scalar(phrase: str) -> str:
    """One phrase as a YAML scalar on one line (quoted only when plain text would read as something else)."""
    out = yaml.safe_dump(phrase, allow_unicode=True, width=1_000_000, default_flow_style=True).strip()
    return out[: -len("\n...")] if out.endswith("\n...") else out


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """1-based last line of the block whose header is line `start` (lines more indented than `indent`)."""
    end = start
    for n in range(start + 1, len(lines) + 1):
        line = lines[n - 1]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if len(_indent(line)) <= indent:
            break
        end = n
    return end


def _append(text: str, intent: str, phrases: list[str]) -> str:
    doc = _read(text)
    lines = text.splitlines()
    raw = doc.data["intents"][intent]
    path = ("intents", intent, "examples")
    old = raw.get("examples")
    key_line = doc.lines.get(path)
    first = lines[doc.lines[(*path, 0)] - 1] if isinstance(old, list) and old else ""
    if first.lstrip().startswith("-") and doc.lines[(*path, 0)] != key_line:
        dash = _indent(first)
        last = doc.lines[(*path, len(old) - 1)]
        end = _block_end(lines, last, len(dash))
        new = [f"{dash}- {_scalar(p)}" for p in phrases]
        out = [*lines[:end], *new, *lines[end:]]
    else:
        items = [str(x) for x in old] if isinstance(old, list) else []
        intent_line = doc.lines[("intents", intent)]
        children = [doc.lines[k] for k in doc.lines if len(k) == 3 and k[:2] == ("intents", intent)]
        if key_line is not None:  # `examples: [...]`, `examples: []` or an empty `examples:`: rewrite as a block
            key_indent = _indent(lines[key_line - 1])
            start, end = key_line, _block_end(lines, key_line, len(key_indent))
        else:
            intent_indent = len(_indent(lines[intent_line - 1]))
            if children and min(children) != intent_line:
                key_indent = _indent(lines[min(children) - 1])
            else:
                raise ExampleEditError(f"intent '{intent}' is written inline ({{...}}); write it as a block "
                                       "with an 'examples:' list in the flow editor first")  # fmt: skip
            start = end = _block_end(lines, intent_line, intent_indent) + 1
        block = [f"{key_indent}examples:", *(f"{key_indent}  - {_scalar(p)}" for p in [*items, *phrases])]
        out = [*lines[: start - 1], *block, *lines[end if key_line is not None else start - 1 :]]
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _check(before: YamlDocument, after: YamlDocument, wanted: dict[str, list[str]]) -> None:
    """Refuse an edit that changed anything but the examples lists it meant to extend."""
    expected: Any = before.data
    for intent, phrases in wanted.items():
        raw = expected["intents"][intent]
        raw["examples"] = [*(raw.get("examples") or []), *phrases]
    if after.data != expected:
        raise ExampleEditError("adding the examples would change more than the examples lists (unusual "
                               "layout of the intents block); add them by hand in the flow editor")  # fmt: skip
