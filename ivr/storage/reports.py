"""Reports: call detail records, queue statistics and agent occupancy."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.storage.models import Call, QueueEvent, Turn

# Agent states (as stored in queue_events.detail for kind 'agent_state') that count as work.
_WORKING = frozenset({"ringing", "busy", "wrap_up"})
_READY = frozenset({"available"})


@dataclass(frozen=True)
class CdrRow:
    """One call detail record."""

    call_id: str
    caller: str
    callee: str
    status: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    hangup_by: str
    end_reason: str
    sip_code: int
    flow_name: str
    flow_version: int | None
    queue: str
    agent_id: str
    turns: int


@dataclass(frozen=True)
class QueueStats:
    """Service figures of one queue over a period (waits in seconds)."""

    queue: str
    offered: int
    answered: int
    abandoned: int
    overflowed: int
    avg_wait: float | None
    p90_wait: float | None
    avg_abandon_wait: float | None
    service_level: float | None
    service_level_seconds: float


@dataclass(frozen=True)
class AgentOccupancy:
    """Where an agent's logged-in time went over a period (seconds)."""

    agent_id: str
    available: float
    working: float
    not_ready: float
    calls_answered: int
    occupancy: float | None

    @property
    def logged_in(self) -> float:
        """Time not offline."""
        return self.available + self.working + self.not_ready


def cdr(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    status: str | None = None,
    caller: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[CdrRow]:
    """Calls newest first, filtered by start time, status and caller."""
    turns = select(func.count(Turn.id)).where(Turn.call_id == Call.id).scalar_subquery()
    q = select(Call, turns).order_by(Call.started_at.desc(), Call.id).limit(limit).offset(offset)
    if since is not None:
        q = q.where(Call.started_at >= since)
    if until is not None:
        q = q.where(Call.started_at < until)
    if status:
        q = q.where(Call.status == status)
    if caller:
        q = q.where(Call.caller == caller)
    out = []
    for call, n_turns in session.execute(q):
        duration = (call.ended_at - call.started_at).total_seconds() if call.ended_at else None
        out.append(
            CdrRow(
                call_id=call.id,
                caller=call.caller,
                callee=call.callee,
                status=call.status,
                started_at=call.started_at,
                answered_at=call.answered_at,
                ended_at=call.ended_at,
                duration_seconds=duration,
                hangup_by=call.hangup_by,
                end_reason=call.end_reason,
                sip_code=call.sip_code,
                flow_name=call.flow_name,
                flow_version=call.flow_version,
                queue=call.queue,
                agent_id=call.agent_id,
                turns=int(n_turns),
            )
        )
    return out


def p90(values: list[float]) -> float | None:
    """90th percentile by the nearest-rank method."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def queue_stats(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    queue: str | None = None,
    service_level_seconds: float = 20.0,
) -> list[QueueStats]:
    """Offered, answered, abandoned, waits and service level per queue.

    Service level is answered within `service_level_seconds` over answered plus abandoned;
    calls that overflowed elsewhere count in the queue that finally handled them.
    """
    q = select(QueueEvent.queue, QueueEvent.kind, QueueEvent.wait_seconds).where(
        QueueEvent.kind.in_(("enqueued", "answered", "abandoned", "overflow")), QueueEvent.queue != ""
    )
    if since is not None:
        q = q.where(QueueEvent.at >= since)
    if until is not None:
        q = q.where(QueueEvent.at < until)
    if queue:
        q = q.where(QueueEvent.queue == queue)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    waits: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for name, kind, wait in session.execute(q):
        counts[name][kind] += 1
        if wait is not None:
            waits[name][kind].append(float(wait))
    out = []
    for name in sorted(counts):
        c, w = counts[name], waits[name]
        answered, abandoned = c["answered"], c["abandoned"]
        within = sum(1 for x in w["answered"] if x <= service_level_seconds)
        out.append(
            QueueStats(
                queue=name,
                offered=c["enqueued"],
                answered=answered,
                abandoned=abandoned,
                overflowed=c["overflow"],
                avg_wait=_mean(w["answered"]),
                p90_wait=p90(w["answered"]),
                avg_abandon_wait=_mean(w["abandoned"]),
                service_level=within / (answered + abandoned) if answered + abandoned else None,
                service_level_seconds=service_level_seconds,
            )
        )
    return out


def agent_occupancy(session: Session, *, since: datetime, until: datetime) -> list[AgentOccupancy]:
    """Occupancy = time ringing, busy or in wrap-up over that plus available time."""
    state_at_start = {}
    before = (
        select(QueueEvent.agent_id, QueueEvent.detail, QueueEvent.at)
        .where(QueueEvent.kind == "agent_state", QueueEvent.at < since)
        .order_by(QueueEvent.at, QueueEvent.id)
    )
    for agent, state, _ in session.execute(before):
        state_at_start[agent] = state
    changes: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    within = (
        select(QueueEvent.agent_id, QueueEvent.detail, QueueEvent.at)
        .where(QueueEvent.kind == "agent_state", QueueEvent.at >= since, QueueEvent.at < until)
        .order_by(QueueEvent.at, QueueEvent.id)
    )
    for agent, state, at in session.execute(within):
        changes[agent].append((at, state))
    answered_q = (
        select(QueueEvent.agent_id, func.count())
        .where(QueueEvent.kind == "answered", QueueEvent.at >= since, QueueEvent.at < until)
        .group_by(QueueEvent.agent_id)
    )
    answered = dict(session.execute(answered_q).all())
    out = []
    for agent in sorted(set(state_at_start) | set(changes)):
        spent: dict[str, float] = defaultdict(float)
        t, state = since, state_at_start.get(agent, "offline")
        for at, new_state in [*changes.get(agent, []), (until, "")]:
            spent[state] += (at - t).total_seconds()
            t, state = at, new_state
        working = sum(v for k, v in spent.items() if k in _WORKING)
        ready = sum(v for k, v in spent.items() if k in _READY)
        not_ready = sum(v for k, v in spent.items() if k not in _WORKING | _READY | {"offline"})
        out.append(
            AgentOccupancy(
                agent_id=agent,
                available=ready,
                working=working,
                not_ready=not_ready,
                calls_answered=int(answered.get(agent, 0)),
                occupancy=working / (working + ready) if working + ready > 0 else None,
            )
        )
    return out


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
