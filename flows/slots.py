"""Slot values from caller speech or DTMF: digit strings, numbers, yes/no and dates."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flows.numbers import CARDINALS, ORDINALS, digits_in, number_in

SLOT_TYPES = ("digits", "number", "yes_no", "date", "text")

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")  # letters and digits of any script (Korean menus too)
_MONTHS = (
    "january february march april may june july august september october november december".split()
)
_MONTH_ALIASES = {m[:3]: i + 1 for i, m in enumerate(_MONTHS)} | {m: i + 1 for i, m in enumerate(_MONTHS)}
_MONTH_ALIASES |= {"sept": 9}
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# Order matters: a "no" phrase is checked first so "not right" is no, not yes.
NO_PHRASES = (
    "not right", "not correct", "that's wrong", "thats wrong", "don't think so", "dont think so",
    "no way", "not really", "not now", "not at all", "i don't", "i do not", "no thank", "no thanks",
)
YES_PHRASES = ("that's right", "thats right", "that is right", "uh huh", "of course", "go ahead", "sure thing")
NO_WORDS = frozenset("no nope nah negative wrong incorrect nay".split())
YES_WORDS = frozenset(
    "yes yeah yep yup yea ya sure correct right ok okay absolutely definitely affirmative "
    "certainly indeed exactly please alright".split()
)


def words(text: str) -> list[str]:
    """Lower-case word tokens of an utterance (apostrophes kept, other punctuation dropped)."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


@dataclass(frozen=True)
class SlotSpec:
    """What a collect step wants: a slot type and, for digits, the allowed length."""

    type: str
    min_length: int = 1
    max_length: int = 32


def parse_slot(spec: SlotSpec, text: str = "", dtmf: str = "") -> str | None:
    """The slot value the caller gave by speech `text` or keys `dtmf`, or None if it does not fit."""
    if spec.type == "digits":
        value = dtmf if dtmf else digits_in(words(text))
        return value if value.isdigit() and spec.min_length <= len(value) <= spec.max_length else None
    if spec.type == "number":
        if dtmf:
            return dtmf if dtmf.isdigit() else None
        number = number_in(words(text))
        return None if number is None else str(number)
    if spec.type == "yes_no":
        if dtmf:
            return {"1": "yes", "2": "no"}.get(dtmf)
        return yes_no(text)
    if spec.type == "date":
        return parse_date(text, dtmf)
    if spec.type == "text":
        cleaned = " ".join(words(text))
        return cleaned or None
    raise ValueError(f"unknown slot type {spec.type!r}")


def yes_no(text: str) -> str | None:
    """'yes', 'no' or None for an answer to a yes/no question."""
    low = " ".join(words(text))
    padded = f" {low} "
    if any(f" {p} " in padded for p in NO_PHRASES):
        return "no"
    if any(f" {p} " in padded for p in YES_PHRASES):
        return "yes"
    toks = low.split()
    no = sum(t in NO_WORDS for t in toks)
    yes = sum(t in YES_WORDS for t in toks)
    if no > yes:
        return "no"
    if yes > no:
        return "yes"
    return None


def _valid(month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month - 1]


def _day_in(tokens: list[str]) -> int | None:
    """Day of month from '20', '20th', 'twentieth', 'twenty fourth', 'twenty four'."""
    for i, tok in enumerate(tokens):
        m = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?", tok)
        if m:
            return int(m.group(1))
        if tok in ("twenty", "thirty") and i + 1 < len(tokens):
            nxt = tokens[i + 1]
            if nxt in ORDINALS and ORDINALS[nxt] < 10:
                return CARDINALS[tok] + ORDINALS[nxt]
            if nxt in CARDINALS and CARDINALS[nxt] < 10:
                return CARDINALS[tok] + CARDINALS[nxt]
        if tok in ORDINALS:
            return ORDINALS[tok]
        if tok in CARDINALS:
            return CARDINALS[tok]
    return None


def parse_date(text: str = "", dtmf: str = "") -> str | None:
    """A date as 'MM-DD' or 'YYYY-MM-DD' from 'November twentieth', '11/20/2025' or keys MMDD[YYYY]."""
    if dtmf:
        if len(dtmf) in (4, 8) and dtmf.isdigit():
            month, day = int(dtmf[:2]), int(dtmf[2:4])
            year = f"{dtmf[4:]}-" if len(dtmf) == 8 else ""
            return f"{year}{month:02d}-{day:02d}" if _valid(month, day) else None
        return None
    low = text.lower()
    m = re.search(r"\b(\d{1,2})[/-](\d{1,2})(?:[/-](\d{4}))?\b", low)
    if m:
        month, day = int(m.group(1)), int(m.group(2))
        year = f"{m.group(3)}-" if m.group(3) else ""
        return f"{year}{month:02d}-{day:02d}" if _valid(month, day) else None
    tokens = words(low)
    for i, tok in enumerate(tokens):
        if tok in _MONTH_ALIASES:
            month = _MONTH_ALIASES[tok]
            rest = [t for t in tokens[i + 1 :] if t not in ("the", "of")]
            before = [t for t in tokens[:i] if t not in ("the", "of")]
            said_day = _day_in(rest) or _day_in(before)
            year_m = re.search(r"\b(19|20)\d\d\b", low)
            year = f"{year_m.group(0)}-" if year_m else ""
            if said_day is not None and _valid(month, said_day):
                return f"{year}{month:02d}-{said_day:02d}"
            return None
    return None
