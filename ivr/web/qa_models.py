"""The typed data of scorecards, reviews, the review queue and corrections: what their /api/ routes take and return."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ivr.web.api import STAFF
from ivr.web.confusion import IntentConfusion, WordErrors
from ivr.web.scorecard import Answer, CardScore, ScorecardBody, Section

REVIEWERS = frozenset({"admin", "supervisor", "qa"})  # read, listen, score and correct
CARD_EDITORS = STAFF  # define scorecards; add corrections to a flow's draft


class ScorecardOut(BaseModel):
    """A scorecard with its sections and who changed it last."""

    id: int
    name: str
    description: str
    pass_mark: float
    sections: list[Section]
    active: bool
    revision: int
    updated_by: str
    updated_at: datetime
    reviews: int


class ScorecardList(BaseModel):
    """Every scorecard, and whether this user may edit them."""

    scorecards: list[ScorecardOut]
    can_edit: bool


class ScorecardEdit(ScorecardBody):
    """A changed scorecard, with the revision the editor loaded (the optimistic lock)."""

    revision: int = Field(ge=1)


class ReviewBody(BaseModel):
    """A reviewer's scoring of a call on one scorecard."""

    scorecard_id: int
    answers: list[Answer] = Field(max_length=500)
    comment: str = Field(default="", max_length=4000)


class ReviewOut(BaseModel):
    """One review of a call."""

    id: int
    call_id: str
    scorecard_id: int
    scorecard: str
    scorecard_revision: int
    reviewer: str
    score: float | None
    raw_score: float | None
    failed: bool
    passed: bool | None
    answers: list[Answer]
    comment: str
    created_at: datetime
    updated_at: datetime
    agent_id: str
    queue: str
    flow_name: str
    flow_version: int | None


class ScoredReview(ReviewOut):
    """A review just saved, with its section scores."""

    result: CardScore


class CallReviews(BaseModel):
    """The reviews of one call and the scorecards one can score it on."""

    call_id: str
    reviews: list[ReviewOut]
    scorecards: list[ScorecardOut]
    can_score: bool


class ReviewQuery(BaseModel):
    """Filter reviews."""

    since: date | None = None
    until: date | None = None
    agent: str = Field(default="", max_length=128)
    reviewer: str = Field(default="", max_length=128)
    limit: int = Field(default=200, ge=1, le=5000)


class ReviewList(BaseModel):
    """Reviews newest first."""

    reviews: list[ReviewOut]


class SampleBody(BaseModel):
    """Draw a random share of a day's calls per agent into the review queue."""

    day: date
    percent: float = Field(default=5.0, gt=0, le=100)
    scorecard_id: int | None = None
    include_bot_calls: bool = False  # calls no agent took form one more group
    seed: int | None = None  # the same seed draws the same calls (for audits and tests)


class QueueQuery(BaseModel):
    """Filter the review queue."""

    day: date | None = None
    agent: str = Field(default="", max_length=128)
    status: Literal["pending", "done", "all"] = "pending"


class SampleOut(BaseModel):
    """A call waiting for (or done with) review."""

    call_id: str
    day: str
    agent_id: str
    percent: float
    scorecard_id: int | None
    sampled_by: str
    sampled_at: datetime
    caller: str
    started_at: datetime
    duration_seconds: float | None
    queue: str
    flow_name: str
    flow_version: int | None
    reviews: int
    score: float | None


class ReviewQueue(BaseModel):
    """The review queue, and the scorecards to sample with."""

    items: list[SampleOut]
    status: str
    day: date | None
    scorecards: list[ScorecardOut]


class Sampled(BaseModel):
    """What a draw added to the review queue."""

    added: list[str]
    day: date
    percent: float


class CorrectionBody(BaseModel):
    """A reviewer's verdict on a caller turn: the intent the caller meant, and what they really said if misheard."""

    intent: str = Field(default="", max_length=128)  # '' : nothing the flow knows
    misrecognized: bool = False
    said: str = Field(default="", max_length=2000)
    verdict: Literal["confirmed", "corrected"] | None = None  # None: confirmed when nothing differs


class CorrectionOut(BaseModel):
    """A verdict on a turn, beside the turn as stored."""

    turn_uid: str
    call_id: str
    verdict: str
    misrecognized: bool
    said: str
    intent: str
    by: str
    updated_at: datetime
    heard: str
    detected: str
    intent_score: float | None
    confidence: float | None
    flow_name: str
    flow_version: int | None
    call_started_at: datetime
    applied_flow: str
    applied_revision: int | None
    applied_by: str
    applied_at: datetime | None
    example: str


class Withdrawn(BaseModel):
    """The turn whose correction was withdrawn."""

    deleted: str


class IntentChoice(BaseModel):
    """An intent a reviewer can pick."""

    name: str
    label: str


class CallCorrections(BaseModel):
    """The verdicts on a call's turns and the intents of its flow version."""

    call_id: str
    corrections: list[CorrectionOut]
    intents: list[IntentChoice]
    can_correct: bool


class CorrectionQuery(BaseModel):
    """Filter corrections."""

    flow: str = Field(default="", max_length=128)
    version: int | None = None
    status: Literal["pending", "applied", "all"] = "pending"
    limit: int = Field(default=500, ge=1, le=5000)


class CorrectionList(BaseModel):
    """Corrections of a flow (or all flows), the flows that have some, and whether this user may add them."""

    flow: str
    flows: list[str]
    status: str
    corrections: list[CorrectionOut]
    can_apply: bool
    draft_revision: int | None  # the flow's draft now (None: no draft; adding starts one from the live version)


class ApplyBody(BaseModel):
    """Corrections to add to the flow's draft as intent examples."""

    turn_uids: list[str] = Field(min_length=1, max_length=500)


class SkippedOut(BaseModel):
    """A correction not added, and why."""

    turn_uid: str
    intent: str
    text: str
    reason: str


class Applied(BaseModel):
    """What went into the draft, and the draft's new revision."""

    flow: str
    added: dict[str, list[str]]
    skipped: list[SkippedOut]
    draft_revision: int | None
    base_version: int | None


class ConfusionQuery(BaseModel):
    """Which verdicts the confusion report counts."""

    flow: str = Field(default="", max_length=128)
    version: int | None = None
    since: date | None = None
    until: date | None = None


class ConfusionReport(BaseModel):
    """Per intent the callers meant: how often it was recognized and what it was taken for; WER on retyped turns."""

    flow: str
    version: int | None
    verdicts: int  # reviewers' verdicts
    confirmed: int
    corrected: int
    caller_yes: int  # callers who said yes to "Did you say …?"
    caller_no: int
    intents: list[IntentConfusion]
    labels: list[str]
    matrix: list[list[int]]  # rows: meant, columns: detected, in `labels` order
    wer: WordErrors  # over turns a reviewer retyped (marked misrecognized)
    wer_reviewed: WordErrors  # over every reviewed spoken turn (the others count as heard right)


def scorecard_out(row: Any) -> ScorecardOut:
    """The API shape of a stored scorecard."""
    d = row.definition
    return ScorecardOut(id=row.id, name=row.name, description=row.description, pass_mark=d.get("pass_mark", 80.0),
                        sections=[Section.model_validate(s) for s in d.get("sections", [])], active=row.active,
                        revision=row.revision, updated_by=row.updated_by, updated_at=row.updated_at,
                        reviews=row.reviews)  # fmt: skip


def card_body(out: ScorecardOut) -> ScorecardBody:
    """The scorecard as the scoring code reads it."""
    return ScorecardBody(name=out.name, description=out.description, pass_mark=out.pass_mark, sections=out.sections,
                         active=out.active)  # fmt: skip
