"""Prompt templates: '{order.status}' and '{order_number:digits}', rendered as words a TTS engine says well."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from flows.numbers import digit_words, number_words, ordinal_words
from ivr.core.redact import REDACTED_VALUE

if TYPE_CHECKING:
    from flows.knowledge import KnowledgeBase
    from flows.model import Flow

_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")
_MONTHS = (
    "January February March April May June July August September October November December".split()
)


@dataclass(frozen=True)
class Placeholder:
    """One '{path:format}' in a prompt."""

    path: str
    format: str = ""


def _format_digits(value: Any) -> str:
    return digit_words(str(value))


def _format_number(value: Any) -> str:
    try:
        return number_words(int(str(value)))
    except ValueError:
        return str(value)


def _format_date(value: Any, with_year: bool = False) -> str:
    m = re.fullmatch(r"(?:(\d{4})-)?(\d{1,2})-(\d{1,2})", str(value).strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        return str(value)
    said = f"{_MONTHS[int(m.group(2)) - 1]} {ordinal_words(int(m.group(3)))}"
    if with_year and m.group(1):
        year = int(m.group(1))
        century, rest = divmod(year, 100)
        said += f", {number_words(century)} {number_words(rest)}" if rest else f", {number_words(year)}"
    return said


def _format_money(value: Any) -> str:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return str(value)
    dollars, cents = divmod(int(amount * 100), 100)
    parts = []
    if dollars or not cents:
        parts.append(f"{number_words(dollars)} dollar{'' if dollars == 1 else 's'}")
    if cents:
        parts.append(f"{number_words(cents)} cent{'' if cents == 1 else 's'}")
    return " and ".join(parts)


_FORMATS: dict[str, Callable[[Any], str]] = {
    "": str,
    "text": str,
    "digits": _format_digits,
    "number": _format_number,
    "date": _format_date,
    "date_year": lambda v: _format_date(v, with_year=True),
    "money": _format_money,
}
FORMATS = tuple(sorted(f for f in _FORMATS if f))


class TemplateSyntaxError(ValueError):
    """A prompt template is malformed; the message says how to fix it."""


def placeholders(template: str) -> list[Placeholder]:
    """The variables a template uses, checking its syntax."""
    found = []
    for m in _FIELD.finditer(template):
        if m.group(1) is None:
            continue
        path, _, fmt = m.group(1).strip().partition(":")
        path, fmt = path.strip(), fmt.strip()
        if not _PATH.fullmatch(path):
            raise TemplateSyntaxError(
                f"'{{{m.group(1)}}}' is not a variable reference; write {{name}} or {{name.field}}, "
                "and '{{' for a literal brace"
            )
        if fmt not in _FORMATS:
            raise TemplateSyntaxError(
                f"unknown format ':{fmt}' in '{{{m.group(1)}}}'; use one of {', '.join(FORMATS)}"
            )
        found.append(Placeholder(path, fmt))
    stray = _FIELD.sub("", template)
    if "{" in stray or "}" in stray:
        raise TemplateSyntaxError(
            f"unbalanced brace in prompt {template!r}; write '{{{{' or '}}}}' for a literal brace"
        )
    return found


def lookup(variables: Mapping[str, Any], path: str) -> Any:
    """Value at a dotted path ('order.status'), or None when any part is missing."""
    if path in variables:
        return variables[path]
    value: Any = variables
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return None
    return value


def render(template: str, variables: Mapping[str, Any], hidden: Collection[str] = ()) -> str:
    """Fill a template; a missing value renders as an empty string (the validator prevents most).

    Variables named in `hidden` (and their fields) render as REDACTED_VALUE: the text for records and logs.
    """

    def fill(m: re.Match[str]) -> str:
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        path, _, fmt = m.group(1).strip().partition(":")
        if any(shares_value(path.strip(), name) for name in hidden):
            return REDACTED_VALUE
        value = lookup(variables, path.strip())
        if value is None:
            return ""
        return _FORMATS.get(fmt.strip(), str)(value)

    return _FIELD.sub(fill, template)


def shares_value(path: str, name: str) -> bool:
    """Whether placeholder `path` shows variable `name`: 'card' and 'card.x' do, and so does 'pay' for 'pay.card'."""
    return path == name or path.startswith(name + ".") or name.startswith(path + ".")


def static_prompts(flow: Flow, knowledge: KnowledgeBase | None = None) -> list[str]:
    """Every prompt without variables, the knowledge base's answers included: synthesized before a call needs them.

    `knowledge` defaults to the knowledge base the loader attached to the flow.
    """
    texts = {t for step in flow.steps.values() for t in step.templates() if t and "{" not in t}
    kb = knowledge or flow.knowledge_base
    return sorted(texts | set(kb.answers() if kb is not None else ()))
