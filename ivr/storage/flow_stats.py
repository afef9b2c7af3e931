"""What calls did on each flow version: caller inputs to replay through a draft, and A/B comparison figures."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ivr.storage.errors import StorageError
from ivr.storage.flowstore import LiveConflict, LiveState, set_live
from ivr.storage.models import Call, Flow, Intent, Turn

# Statuses of a call the IVR handled to the end by itself (no agent queue involved).
_CONTAINED = ("completed", "voicemail")


@dataclass(frozen=True)
class RecordedInput:
    """One thing a caller did, as the call stored it: recognized text, or keys as '[keys] 123'."""

    text: str
    confidence: float | None
    intent: str
    step: str  # the step that understood it ('' when nothing matched)


@dataclass(frozen=True)
class RecordedCall:
    """An ended call of a flow with the caller's inputs in order, for replaying through another version."""

    call_id: str
    started_at: datetime
    flow_version: int | None
    status: str
    queue: str
    inputs: list[RecordedInput] = field(default_factory=list)


@dataclass(frozen=True)
class VersionStats:
    """How the calls that ran one flow version went."""

    version: int | None
    calls: int  # ended calls
    answered: int
    contained: int  # answered and ended in the IVR (completed or voicemail, no queue)
    transferred: int  # sent to an agent queue (whatever happened there)
    abandoned: int
    caller_turns: int
    no_match_turns: int  # caller turns no intent or option matched
    mean_seconds: float | None  # call length, answer to hang-up
    median_seconds: float | None


def recent_calls(session: Session, flow_name: str, limit: int, version: int | None = None) -> list[RecordedCall]:
    """The last `limit` ended calls of a flow (of one version if given), newest first, with their caller inputs."""
    q = select(Call).where(Call.flow_name == flow_name, Call.ended_at.is_not(None))
    if version is not None:
        q = q.where(Call.flow_version == version)
    calls = list(session.scalars(q.order_by(Call.started_at.desc(), Call.id.desc()).limit(limit)))
    if not calls:
        return []
    ids = [c.id for c in calls]
    steps = {
        uid: step
        for uid, step in session.execute(select(Intent.turn_uid, Intent.step).where(Intent.call_id.in_(ids)))
        if uid
    }
    inputs: dict[str, list[RecordedInput]] = {}
    turns = select(Turn).where(Turn.call_id.in_(ids), Turn.speaker == "caller").order_by(Turn.id)
    for t in session.scalars(turns):
        # Turns are written in the order they happened, so the row id orders them (offsets may be missing).
        inputs.setdefault(t.call_id, []).append(RecordedInput(t.text, t.confidence, t.intent, steps.get(t.uid, "")))
    return [RecordedCall(c.id, c.started_at, c.flow_version, c.status, c.queue, inputs.get(c.id, [])) for c in calls]


def version_stats(session: Session, flow_name: str, since: datetime) -> list[VersionStats]:
    """Per version: ended calls since `since`, containment, transfers, no-match turns and call length."""
    rows = session.execute(
        select(Call.flow_version, Call.status, Call.queue, Call.answered_at, Call.ended_at)
        .where(Call.flow_name == flow_name, Call.started_at >= since, Call.ended_at.is_not(None))
    ).all()  # fmt: skip
    turns = {
        version: (int(total or 0), int(missed or 0))
        for version, total, missed in session.execute(
            select(Call.flow_version, func.count(Turn.id), func.sum(case((Turn.intent == "", 1), else_=0)))
            .join(Call, Call.id == Turn.call_id)
            .where(Call.flow_name == flow_name, Call.started_at >= since, Call.ended_at.is_not(None),
                   Turn.speaker == "caller")
            .group_by(Call.flow_version)
        )
    }  # fmt: skip
    by_version: dict[int | None, list[tuple[str, str, datetime | None, datetime | None]]] = {}
    for version, status, queue, answered, ended in rows:
        by_version.setdefault(version, []).append((status, queue, answered, ended))
    out = []
    for version, calls in by_version.items():
        lengths = [(e - a).total_seconds() for _, _, a, e in calls if a is not None and e is not None]
        total, missed = turns.get(version, (0, 0))
        out.append(VersionStats(
            version=version,
            calls=len(calls),
            answered=sum(1 for _, _, a, _ in calls if a is not None),
            contained=sum(1 for s, q, a, _ in calls if a is not None and not q and s in _CONTAINED),
            transferred=sum(1 for s, q, _, _ in calls if q or s == "transferred"),
            abandoned=sum(1 for s, _, _, _ in calls if s == "abandoned"),
            caller_turns=total,
            no_match_turns=missed,
            mean_seconds=round(statistics.fmean(lengths), 2) if lengths else None,
            median_seconds=round(statistics.median(lengths), 2) if lengths else None,
        ))  # fmt: skip
    return sorted(out, key=lambda s: -1 if s.version is None else s.version, reverse=True)


def set_live_checked(session: Session, name: str, version: int, *, by: str, expect_live: int | None) -> LiveState:
    """Make `version` live (rollback) only if the live version is still `expect_live`; else LiveConflict."""
    flow = session.scalar(select(Flow).where(Flow.name == name).with_for_update())
    if flow is None:
        raise StorageError(f"no flow {name!r}; publish it first")
    if flow.live_version != expect_live:
        raise LiveConflict(
            f"flow {name!r}: version {flow.live_version} went live (by {flow.live_changed_by or 'someone'}) "
            f"after you looked at version {expect_live}; reload the page and choose again"
        )
    return set_live(session, name, version, by=by)
