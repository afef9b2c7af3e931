"""QA scorecards, reviews of calls, and the random review sample (the review queue)."""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.storage.errors import StorageError
from ivr.storage.models import Call, Review, ReviewSample, Scorecard


class ScorecardConflict(StorageError):
    """Someone changed the scorecard since the editor loaded it."""


@dataclass(frozen=True)
class ScorecardRow:
    """A scorecard with its definition (pass mark and sections) and how many reviews used it."""

    id: int
    name: str
    description: str
    definition: dict[str, Any]
    active: bool
    revision: int
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    reviews: int


@dataclass(frozen=True)
class ReviewRow:
    """One review of a call, with the call's agent, queue and flow version."""

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
    answers: list[dict[str, Any]]
    comment: str
    created_at: datetime
    updated_at: datetime
    agent_id: str
    queue: str
    flow_name: str
    flow_version: int | None


@dataclass(frozen=True)
class SampleRow:
    """A call in the review queue, with what a reviewer needs to pick it."""

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
    score: float | None  # the latest review's score


def _row(card: Scorecard, reviews: int) -> ScorecardRow:
    return ScorecardRow(card.id, card.name, card.description, json.loads(card.definition), card.active,
                        card.revision, card.created_by, card.created_at, card.updated_by, card.updated_at,
                        reviews)  # fmt: skip


def list_scorecards(session: Session, *, active_only: bool = False) -> list[ScorecardRow]:
    """Every scorecard by name, with its review count."""
    counts = (select(Review.scorecard_id, func.count().label("n")).group_by(Review.scorecard_id)).subquery()
    q = select(Scorecard, counts.c.n).outerjoin(counts, counts.c.scorecard_id == Scorecard.id).order_by(Scorecard.name)
    if active_only:
        q = q.where(Scorecard.active.is_(True))
    return [_row(card, int(n or 0)) for card, n in session.execute(q)]


def get_scorecard(session: Session, card_id: int) -> ScorecardRow | None:
    """One scorecard, None if unknown."""
    card = session.get(Scorecard, card_id)
    if card is None:
        return None
    n = session.scalar(select(func.count()).select_from(Review).where(Review.scorecard_id == card_id))
    return _row(card, int(n or 0))


def create_scorecard(
    session: Session, name: str, *, description: str, definition: dict[str, Any], active: bool, by: str
) -> ScorecardRow:
    """A new scorecard; StorageError if the name is taken."""
    if session.scalar(select(Scorecard.id).where(Scorecard.name == name)) is not None:
        raise StorageError(f"a scorecard named {name!r} exists; pick another name or edit that one")
    now = datetime.now(UTC)
    card = Scorecard(name=name, description=description, definition=json.dumps(definition), active=active,
                     revision=1, created_by=by, created_at=now, updated_by=by, updated_at=now)  # fmt: skip
    session.add(card)
    try:
        session.flush()
    except IntegrityError:
        raise StorageError(f"a scorecard named {name!r} exists; pick another name or edit that one") from None
    return _row(card, 0)


def update_scorecard(
    session: Session, card_id: int, *, expected_revision: int, name: str, description: str,
    definition: dict[str, Any], active: bool, by: str,
) -> ScorecardRow:  # fmt: skip
    """Change a scorecard if nobody did since `expected_revision`; reviews already made keep their scores."""
    card = session.scalar(select(Scorecard).where(Scorecard.id == card_id).with_for_update())
    if card is None:
        raise StorageError(f"there is no scorecard {card_id}")
    if card.revision != expected_revision:
        raise ScorecardConflict(
            f"{card.updated_by} changed this scorecard (revision {card.revision}) after you opened revision "
            f"{expected_revision}; reload it and make your change again"
        )
    clash = session.scalar(select(Scorecard.id).where(Scorecard.name == name, Scorecard.id != card_id))
    if clash is not None:
        raise StorageError(f"a scorecard named {name!r} exists; pick another name")
    card.name, card.description, card.definition, card.active = name, description, json.dumps(definition), active
    card.revision, card.updated_by, card.updated_at = card.revision + 1, by, datetime.now(UTC)
    session.flush()
    result = get_scorecard(session, card_id)
    assert result is not None
    return result


def save_review(
    session: Session, call_id: str, card_id: int, *, revision: int, reviewer: str, score: float | None,
    raw_score: float | None, failed: bool, passed: bool | None, answers: list[dict[str, Any]], comment: str,
) -> ReviewRow:  # fmt: skip
    """Store a reviewer's scoring of a call on a card (a second scoring by the same reviewer replaces the first)."""
    if session.get(Call, call_id) is None:
        raise StorageError(f"there is no call {call_id!r}")
    now = datetime.now(UTC)
    review = session.scalar(select(Review).where(Review.call_id == call_id, Review.scorecard_id == card_id,
                                                 Review.reviewer == reviewer))  # fmt: skip
    if review is None:
        review = Review(call_id=call_id, scorecard_id=card_id, reviewer=reviewer, created_at=now)
        session.add(review)
    review.scorecard_revision, review.score, review.raw_score = revision, score, raw_score
    review.failed, review.passed, review.answers, review.comment = failed, passed, json.dumps(answers), comment
    review.updated_at = now
    session.flush()
    return list_reviews(session, review_id=review.id)[0]


def list_reviews(
    session: Session, *, call_id: str | None = None, review_id: int | None = None, since: datetime | None = None,
    until: datetime | None = None, agent: str | None = None, reviewer: str | None = None, limit: int = 1000,
) -> list[ReviewRow]:  # fmt: skip
    """Reviews newest first, with their calls' agent, queue and flow version."""
    q = (
        select(Review, Scorecard.name, Call.agent_id, Call.queue, Call.flow_name, Call.flow_version)
        .join(Scorecard, Scorecard.id == Review.scorecard_id)
        .join(Call, Call.id == Review.call_id)
        .order_by(Review.updated_at.desc(), Review.id.desc())
        .limit(limit)
    )
    if call_id is not None:
        q = q.where(Review.call_id == call_id)
    if review_id is not None:
        q = q.where(Review.id == review_id)
    if since is not None:
        q = q.where(Review.created_at >= since)
    if until is not None:
        q = q.where(Review.created_at < until)
    if agent is not None:
        q = q.where(Call.agent_id == agent)
    if reviewer:
        q = q.where(Review.reviewer == reviewer)
    return [
        ReviewRow(r.id, r.call_id, r.scorecard_id, name, r.scorecard_revision, r.reviewer, r.score, r.raw_score,
                  r.failed, r.passed, json.loads(r.answers), r.comment, r.created_at, r.updated_at, agent_id, queue,
                  flow_name, flow_version)
        for r, name, agent_id, queue, flow_name, flow_version in session.execute(q)
    ]  # fmt: skip


def sample_calls(
    session: Session, day: date, *, percent: float, by: str, scorecard_id: int | None = None,
    agents_only: bool = True, seed: int | None = None,
) -> list[str]:  # fmt: skip
    """Draw `percent` of each agent's ended calls of `day` (UTC) into the review queue, at least one per agent.

    Calls sampled before are neither drawn again nor counted as new; returns the ids added.
    With `agents_only` false, calls no agent took form one more group.
    """
    if not 0 < percent <= 100:
        raise StorageError(f"a sample is 0 to 100 percent of the calls, not {percent}")
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    q = select(Call.id, Call.agent_id).where(Call.started_at >= start, Call.started_at < start + timedelta(days=1),
                                             Call.ended_at.is_not(None)).order_by(Call.id)  # fmt: skip
    if agents_only:
        q = q.where(Call.agent_id != "")
    sampled = set(session.scalars(select(ReviewSample.call_id).where(ReviewSample.day == day.isoformat())))
    groups: dict[str, list[str]] = defaultdict(list)
    for call_id, agent in session.execute(q):
        groups[agent].append(call_id)
    rng = random.Random(seed)
    now, added = datetime.now(UTC), []
    for agent in sorted(groups):
        calls = groups[agent]
        want = max(1, math.ceil(len(calls) * percent / 100)) - sum(1 for c in calls if c in sampled)
        fresh = [c for c in calls if c not in sampled]
        for call_id in rng.sample(fresh, min(max(0, want), len(fresh))):
            session.add(ReviewSample(call_id=call_id, day=day.isoformat(), agent_id=agent, percent=percent,
                                     scorecard_id=scorecard_id, sampled_by=by, sampled_at=now))  # fmt: skip
            added.append(call_id)
    session.flush()
    return added


def review_queue(
    session: Session, *, day: str | None = None, agent: str | None = None, status: str = "pending", limit: int = 500
) -> list[SampleRow]:
    """Sampled calls (pending: not reviewed yet; done; all), oldest sample first."""
    reviewed = exists().where(Review.call_id == ReviewSample.call_id)
    q = (
        select(ReviewSample, Call)
        .join(Call, Call.id == ReviewSample.call_id)
        .order_by(ReviewSample.day, ReviewSample.agent_id, Call.started_at)
        .limit(limit)
    )
    if day:
        q = q.where(ReviewSample.day == day)
    if agent is not None:
        q = q.where(ReviewSample.agent_id == agent)
    if status == "pending":
        q = q.where(~reviewed)
    elif status == "done":
        q = q.where(reviewed)
    rows = session.execute(q).all()
    ids = [s.call_id for s, _ in rows]
    stats: dict[str, tuple[int, float | None]] = {}
    if ids:
        for rev in session.scalars(select(Review).where(Review.call_id.in_(ids)).order_by(Review.updated_at)):
            n, _ = stats.get(rev.call_id, (0, None))
            stats[rev.call_id] = (n + 1, rev.score)
    out = []
    for s, c in rows:
        n, score = stats.get(s.call_id, (0, None))
        duration = (c.ended_at - c.started_at).total_seconds() if c.ended_at else None
        out.append(SampleRow(s.call_id, s.day, s.agent_id, s.percent, s.scorecard_id, s.sampled_by,
                             s.sampled_at, c.caller, c.started_at, duration, c.queue, c.flow_name, c.flow_version, n,
                             score))  # fmt: skip
    return out


def call_agent(session: Session, call_id: str) -> str | None:
    """The agent id of a call ('' when no agent took it); None when there is no such call."""
    return session.scalar(select(Call.agent_id).where(Call.id == call_id))
