"""Reading one call back, and closing calls a crash left open."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ivr.storage.models import Call, Intent, QueueEvent, Recording, Slot, Turn

INTERRUPTED_REASON = "the control process stopped before the call ended"


@dataclass(frozen=True)
class TurnRow:
    """One stored turn."""

    uid: str
    speaker: str
    text: str
    confidence: float | None
    start_offset: float | None
    end_offset: float | None
    intent: str
    intent_score: float | None
    created_at: datetime


@dataclass(frozen=True)
class IntentRow:
    """One stored intent with its slots."""

    uid: str
    name: str
    score: float
    step: str
    turn_uid: str | None
    slots: dict[str, str]
    created_at: datetime


@dataclass(frozen=True)
class RecordingRow:
    """One stored recording."""

    path: str
    duration_seconds: float
    channels: int
    sample_rate: int
    sha256: str
    encrypted: bool
    status: str
    # PCI pauses, (start, end) seconds into the file; None when the row predates them (see the sidecar).
    pauses: list[tuple[float, float]] | None = None


@dataclass(frozen=True)
class CallDetail:
    """A call with everything stored about it, for the QA console."""

    call_id: str
    caller: str
    status: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    flow_name: str
    flow_version: int | None
    queue: str
    agent_id: str
    turns: list[TurnRow] = field(default_factory=list)
    intents: list[IntentRow] = field(default_factory=list)
    queue_events: list[tuple[datetime, str, str, str]] = field(default_factory=list)
    recordings: list[RecordingRow] = field(default_factory=list)


def call_detail(session: Session, call_id: str) -> CallDetail | None:
    """Everything stored about one call, turns in time order; None if unknown."""
    call = session.get(Call, call_id)
    if call is None:
        return None
    turns = session.scalars(select(Turn).where(Turn.call_id == call_id).order_by(Turn.start_offset, Turn.id)).all()
    intents = session.scalars(select(Intent).where(Intent.call_id == call_id).order_by(Intent.id)).all()
    slots: dict[str, dict[str, str]] = {}
    if intents:
        for slot in session.scalars(select(Slot).where(Slot.intent_uid.in_([i.uid for i in intents]))):
            slots.setdefault(slot.intent_uid, {})[slot.name] = slot.value
    events = session.scalars(
        select(QueueEvent).where(QueueEvent.call_id == call_id).order_by(QueueEvent.at, QueueEvent.id)
    ).all()
    recs = session.scalars(select(Recording).where(Recording.call_id == call_id).order_by(Recording.id)).all()
    return CallDetail(
        call_id=call.id,
        caller=call.caller,
        status=call.status,
        started_at=call.started_at,
        answered_at=call.answered_at,
        ended_at=call.ended_at,
        flow_name=call.flow_name,
        flow_version=call.flow_version,
        queue=call.queue,
        agent_id=call.agent_id,
        turns=[
            TurnRow(
                t.uid,
                t.speaker,
                t.text,
                t.confidence,
                t.start_offset,
                t.end_offset,
                t.intent,
                t.intent_score,
                t.created_at,
            )
            for t in turns
        ],
        intents=[
            IntentRow(i.uid, i.name, i.score, i.step, i.turn_uid, slots.get(i.uid, {}), i.created_at) for i in intents
        ],
        queue_events=[(e.at, e.kind, e.queue, e.agent_id) for e in events],
        recordings=[
            RecordingRow(
                r.path,
                r.duration_seconds,
                r.channels,
                r.sample_rate,
                r.sha256,
                r.encrypted,
                r.status,
                _pauses(r.pauses),
            )
            for r in recs
        ],
    )


def _pauses(stored: str | None) -> list[tuple[float, float]] | None:
    """recordings.pauses (JSON [[start, end], ...]) as (start, end) tuples."""
    if stored is None:
        return None
    return [(float(start), float(end)) for start, end in json.loads(stored)]


def mark_interrupted_calls(session: Session, node: str, before: datetime | None = None) -> list[str]:
    """Close calls of `node` still open (a crash left them); returns their ids."""
    before = before or datetime.now(UTC)
    ids = list(
        session.scalars(select(Call.id).where(Call.ended_at.is_(None), Call.node == node, Call.started_at <= before))
    )
    if ids:
        session.execute(
            update(Call)
            .where(Call.id.in_(ids), Call.ended_at.is_(None))
            .values(status="interrupted", ended_at=datetime.now(UTC), hangup_by="system", end_reason=INTERRUPTED_REASON)
        )
    return ids
