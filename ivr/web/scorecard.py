"""Scorecards: what a reviewer judges a call on, and how the answers add up to a score.

A card has sections of criteria. A criterion is answered yes/no or on a 1-5 scale, may allow N/A
(left out of the score), has a weight, and may be fatal: a "no" (or a 1) fails the whole card,
whose score is then 0 whatever else went well, as in the contact-centre tools reviewers know.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ivr.core.errors import IvrError

NA = "na"
SCALE = ("1", "2", "3", "4", "5")
YES_NO = ("yes", "no")


class ScoringError(IvrError):
    """The answers do not fit the scorecard."""


class Criterion(BaseModel):
    """One thing a reviewer judges."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    label: str = Field(min_length=1, max_length=255)
    type: Literal["yes_no", "scale"] = "yes_no"
    weight: float = Field(default=1.0, gt=0, le=100)
    allow_na: bool = False
    fatal: bool = False  # a "no" (or 1 on a scale) fails the whole card
    help: str = Field(default="", max_length=1000)


class Section(BaseModel):
    """A titled group of criteria."""

    title: str = Field(min_length=1, max_length=255)
    criteria: list[Criterion] = Field(min_length=1, max_length=100)


class ScorecardBody(BaseModel):
    """A scorecard as an admin or supervisor writes it."""

    name: str = Field(min_length=1, max_length=128)
    description: str = Field(default="", max_length=2000)
    pass_mark: float = Field(default=80.0, ge=0, le=100)
    sections: list[Section] = Field(min_length=1, max_length=50)
    active: bool = True

    @model_validator(mode="after")
    def _unique_ids(self) -> ScorecardBody:
        seen: set[str] = set()
        for c in self.criteria():
            if c.id in seen:
                raise ValueError(f"criterion id '{c.id}' is used twice; give each criterion its own id")
            seen.add(c.id)
        return self

    def criteria(self) -> list[Criterion]:
        """Every criterion in order."""
        return [c for s in self.sections for c in s.criteria]


class Answer(BaseModel):
    """A reviewer's answer to one criterion, with an optional comment."""

    criterion: str = Field(max_length=64)
    value: str = Field(max_length=8)  # yes / no / na / 1..5
    comment: str = Field(default="", max_length=2000)


class SectionScore(BaseModel):
    """One section's score (None when every criterion was N/A)."""

    title: str
    score: float | None


class CardScore(BaseModel):
    """The result of a review: 0-100 (0 when failed), the score before a fatal failure, and what failed it."""

    score: float | None
    raw_score: float | None
    failed: bool
    passed: bool | None
    failed_by: list[str]
    sections: list[SectionScore]


def _points(c: Criterion, value: str) -> float | None:
    """0..1 for an answer, None for N/A; ScoringError for a value the criterion does not take."""
    if value == NA:
        if not c.allow_na:
            raise ScoringError(f"'{c.label}' must be answered; N/A is not allowed for it")
        return None
    if c.type == "yes_no":
        if value not in YES_NO:
            raise ScoringError(f"'{c.label}' is answered yes or no, not {value!r}")
        return 1.0 if value == "yes" else 0.0
    if value not in SCALE:
        raise ScoringError(f"'{c.label}' is answered 1 to 5, not {value!r}")
    return (int(value) - 1) / 4


def _fails(c: Criterion, value: str) -> bool:
    return c.fatal and value in ("no", "1")


def score_card(card: ScorecardBody, answers: list[Answer]) -> CardScore:
    """Weighted score of the answers (N/A left out); every criterion needs an answer."""
    given = {a.criterion: a for a in answers}
    ids = {c.id for c in card.criteria()}
    unknown = sorted(set(given) - ids)
    if unknown:
        raise ScoringError(f"the scorecard has no criteria {unknown}; reload the page, the card may have changed")
    missing = [c.label for c in card.criteria() if c.id not in given]
    if missing:
        raise ScoringError(f"answer every criterion (N/A where allowed); missing: {', '.join(missing)}")
    total_w = total = 0.0
    sections: list[SectionScore] = []
    failed_by: list[str] = []
    for s in card.sections:
        sw = st = 0.0
        for c in s.criteria:
            value = given[c.id].value.strip().lower()
            points = _points(c, value)
            if _fails(c, value):
                failed_by.append(c.id)
            if points is not None:
                sw, st = sw + c.weight, st + c.weight * points
        sections.append(SectionScore(title=s.title, score=round(100 * st / sw, 1) if sw else None))
        total_w, total = total_w + sw, total + st
    raw = round(100 * total / total_w, 1) if total_w else None
    failed = bool(failed_by)
    final = 0.0 if failed else raw
    return CardScore(score=final, raw_score=raw, failed=failed,
                     passed=None if final is None else (not failed and final >= card.pass_mark),
                     failed_by=failed_by, sections=sections)  # fmt: skip
