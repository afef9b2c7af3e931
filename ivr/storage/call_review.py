"""One call as a QA reviewer opens it: turns, intents with slots, queue events, recordings by uid."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.storage.calls import IntentRow, TurnRow
from ivr.storage.flow_stats import RecordedCall, RecordedInput
from ivr.storage.models import Call, Intent, QueueEvent, Recording, Slot, Turn


@dataclass(frozen=True)
class QueueFact:
    """One ACD event of the call."""

    at: datetime
    kind: str
    queue: str
    agent_id: str
    wait_seconds: float | None
    detail: str


@dataclass(frozen=True)
class RecordingFile:
    """A recording row: what the app needs to find, verify and serve the file (never a path from a URL)."""

    uid: str
    call_id: str
    agent_id: str  # the call's agent, for the agent role's own-calls rule
    path: str
    duration_seconds: float
    channels: int
    sample_rate: int
    sha256: str
    size_bytes: int
    encrypted: bool
    status: str
    purged_at: datetime | None
    pauses: list[tuple[float, float]] | None


@dataclass(frozen=True)
class CallReview:
    """Everything stored about one call, for its page."""

    call_id: str
    caller: str
    callee: str
    status: str
    outcome: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    hangup_by: str
    end_reason: str
    flow_name: str
    flow_version: int | None
    queue: str
    agent_id: str
    turns: list[TurnRow] = field(default_factory=list)
    intents: list[IntentRow] = field(default_factory=list)
    queue_events: list[QueueFact] = field(default_factory=list)
    recordings: list[RecordingFile] = field(default_factory=list)
    wrap_up: WrapUp | None = None


@dataclass(frozen=True)
class WrapUp:
    """The agent's after-call work: when it began (at the call's end) and how long it took (None: still going)."""

    started_at: datetime
    seconds: float | None


def _wrap_up(session: Session, agent_id: str, ended: datetime | None) -> WrapUp | None:
    """The agent's wrap-up that began as this call ended (within 5 s), from the ACD's agent-state events."""
    if not agent_id or ended is None:
        return None
    q = (
        select(QueueEvent.detail, QueueEvent.at)
        .where(QueueEvent.kind == "agent_state", QueueEvent.agent_id == agent_id,
               QueueEvent.at >= ended - timedelta(seconds=5), QueueEvent.at <= ended + timedelta(hours=2))
        .order_by(QueueEvent.at, QueueEvent.id)
        .limit(50)
    )  # fmt: skip
    rows = session.execute(q).all()
    for i, (state, at) in enumerate(rows):
        if state == "wrap_up" and at <= ended + timedelta(seconds=5):
            following = rows[i + 1][1] if i + 1 < len(rows) else None
            return WrapUp(at, None if following is None else (following - at).total_seconds())
    return None


def call_review(session: Session, call_id: str) -> CallReview | None:
    """The call with everything stored about it; None if there is no such call."""
    c = session.get(Call, call_id)
    if c is None:
        return None
    turns = session.scalars(select(Turn).where(Turn.call_id == call_id).order_by(Turn.start_offset, Turn.id)).all()
    intents = session.scalars(select(Intent).where(Intent.call_id == call_id).order_by(Intent.id)).all()
    slots: dict[str, dict[str, str]] = {}
    if intents:
        for s in session.scalars(select(Slot).where(Slot.intent_uid.in_([i.uid for i in intents])).order_by(Slot.id)):
            slots.setdefault(s.intent_uid, {})[s.name] = s.value
    events = session.scalars(
        select(QueueEvent).where(QueueEvent.call_id == call_id).order_by(QueueEvent.at, QueueEvent.id)
    ).all()
    recs = session.scalars(select(Recording).where(Recording.call_id == call_id).order_by(Recording.id)).all()
    return CallReview(
        call_id=c.id, caller=c.caller, callee=c.callee, status=c.status, outcome=c.outcome, started_at=c.started_at,
        answered_at=c.answered_at, ended_at=c.ended_at, duration_seconds=c.duration_seconds, hangup_by=c.hangup_by,
        end_reason=c.end_reason, flow_name=c.flow_name, flow_version=c.flow_version, queue=c.queue,
        agent_id=c.agent_id,
        turns=[TurnRow(t.uid, t.speaker, t.text, t.confidence, t.start_offset, t.end_offset, t.intent, t.intent_score,
                       t.created_at) for t in turns],
        intents=[IntentRow(i.uid, i.name, i.score, i.step, i.turn_uid, slots.get(i.uid, {}), i.created_at)
                 for i in intents],
        queue_events=[QueueFact(e.at, e.kind, e.queue, e.agent_id, e.wait_seconds, e.detail) for e in events],
        recordings=[_file(r, c.agent_id) for r in recs], wrap_up=_wrap_up(session, c.agent_id, c.ended_at),
    )  # fmt: skip


def recording_file(session: Session, uid: str) -> RecordingFile | None:
    """A recording by its uid, with its call's agent."""
    row = session.execute(
        select(Recording, Call.agent_id).outerjoin(Call, Call.id == Recording.call_id).where(Recording.uid == uid)
    ).first()
    return None if row is None else _file(row[0], row[1] or "")


def recorded_call(session: Session, call_id: str) -> RecordedCall | None:
    """The caller's inputs of one call in order (to replay it through its flow version and draw its path)."""
    c = session.get(Call, call_id)
    if c is None:
        return None
    steps = {u: s for u, s in session.execute(select(Intent.turn_uid, Intent.step).where(Intent.call_id == call_id))}
    turns = select(Turn).where(Turn.call_id == call_id, Turn.speaker == "caller").order_by(Turn.id)
    inputs = [RecordedInput(t.text, t.confidence, t.intent, steps.get(t.uid, "")) for t in session.scalars(turns)]
    return RecordedCall(c.id, c.started_at, c.flow_version, c.status, c.queue, inputs)


def _file(r: Recording, agent_id: str) -> RecordingFile:
    pauses = None if r.pauses is None else [(float(a), float(b)) for a, b in json.loads(r.pauses)]
    return RecordingFile(
        uid=r.uid, call_id=r.call_id, agent_id=agent_id, path=r.path, duration_seconds=r.duration_seconds,
        channels=r.channels, sample_rate=r.sample_rate, sha256=r.sha256, size_bytes=r.size_bytes, encrypted=r.encrypted,
        status=r.status, purged_at=r.purged_at, pauses=pauses,
    )  # fmt: skip
