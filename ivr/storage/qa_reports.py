"""Report figures over a period: call volume, containment, intents, queue service, handle time, QA scores, latency.

Periods are UTC days. Everything is counted on the calls that started in the period.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, func, select
from sqlalchemy.orm import Session

from ivr.storage.models import Call, QueueEvent, Review, Scorecard, Turn

NO_INTENT = "(none)"
# Outcomes of an answered call that ended on its own; interrupted (the server stopped) and failed calls say
# nothing about the flow, so they are left out of the containment rate.
_HANDLED = ("contained", "transferred", "abandoned", "voicemail")
QA_GROUPS = ("agent", "queue", "flow_version", "scorecard", "reviewer")
QA_PERIODS = ("day", "week", "month", "all")
REPORTS = ("volume", "containment", "intents", "queues", "qa_scores", "latency")


@dataclass(frozen=True)
class VolumeRow:
    """Calls in one hour of the day (00-23) or on one day."""

    period: str
    calls: int
    answered: int
    contained: int
    transferred: int
    abandoned: int


@dataclass(frozen=True)
class ContainmentRow:
    """One day: answered calls that ended on their own, how many the bot resolved without an agent."""

    day: str
    handled: int
    contained: int
    transferred: int
    abandoned: int
    voicemail: int
    rate: float | None


@dataclass(frozen=True)
class IntentRow:
    """One intent over the period: caller turns, calls, mean score."""

    intent: str
    turns: int
    calls: int
    share: float
    mean_score: float | None


@dataclass(frozen=True)
class QueueRow:
    """Service of one queue (or one queue on one day): waits and handle times in seconds."""

    queue: str
    day: str
    offered: int
    answered: int
    abandoned: int
    service_level: float | None  # answered within the threshold / (answered + abandoned)
    asa: float | None  # average speed of answer
    abandon_rate: float | None
    aht: float | None  # average handle time: talk plus the wrap-up after it
    avg_talk: float | None
    avg_wrap: float | None


@dataclass(frozen=True)
class QaRow:
    """Reviews of one group (agent, queue, flow version, scorecard, reviewer) in one period."""

    period: str
    group: str
    reviews: int
    mean_score: float | None
    min_score: float | None
    pass_rate: float | None
    failed: int  # failed by a fatal criterion


@dataclass(frozen=True)
class LatencyRow:
    """Replies on one day: seconds from the end of the caller's speech to the reply's first audio."""

    day: str
    replies: int
    mean: float | None
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


def _day(t: datetime) -> str:
    return t.strftime("%Y-%m-%d")


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of `values` (q in 0..1)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _day_of(session: Session, column: Any) -> Any:
    """SQL for the UTC day (YYYY-MM-DD) of a stored time: grouping in the database, not row by row in Python."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM-DD")
    return func.substr(column, 1, 10, type_=String)  # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)


def _hour_of(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "HH24")
    return func.substr(column, 12, 2, type_=String)


def _outcomes(session: Session, since: datetime, until: datetime) -> list[tuple[str, str, str, bool, int]]:
    """(day, hour, outcome, answered, calls) for the calls started in the period."""
    day, hour = _day_of(session, Call.started_at), _hour_of(session, Call.started_at)
    answered = Call.answered_at.is_not(None)
    q = (
        select(day, hour, Call.outcome, answered, func.count())
        .where(Call.started_at >= since, Call.started_at < until)
        .group_by(day, hour, Call.outcome, answered)
    )
    return [(d, h, o, bool(a), int(n)) for d, h, o, a, n in session.execute(q)]


def volume(session: Session, *, since: datetime, until: datetime) -> tuple[list[VolumeRow], list[VolumeRow]]:
    """Calls by hour of the day (UTC, all 24 hours) and by day (every day of the period)."""
    by_hour: dict[str, Counter[str]] = {f"{h:02d}": Counter() for h in range(24)}
    by_day: dict[str, Counter[str]] = {}
    d = since
    while d < until:
        by_day[_day(d)] = Counter()
        d += timedelta(days=1)
    for day, hour, outcome, answered, n in _outcomes(session, since, until):
        for c in (by_hour[hour], by_day.setdefault(day, Counter())):
            c["calls"] += n
            c["answered"] += n if answered else 0
            c[outcome] += n

    def rows(table: dict[str, Counter[str]]) -> list[VolumeRow]:
        return [VolumeRow(k, c["calls"], c["answered"], c["contained"], c["transferred"], c["abandoned"])
                for k, c in sorted(table.items())]  # fmt: skip

    return rows(by_hour), rows(by_day)


def containment(session: Session, *, since: datetime, until: datetime) -> list[ContainmentRow]:
    """Containment per day, and a last row 'all' for the whole period."""
    days: dict[str, Counter[str]] = defaultdict(Counter)
    for day, _, outcome, answered, n in _outcomes(session, since, until):
        if answered and outcome in _HANDLED:
            for key in (day, "all"):
                days[key][outcome] += n
    out = []
    for day in [*sorted(k for k in days if k != "all"), "all"]:
        c = days[day]
        handled = sum(c[o] for o in _HANDLED)
        out.append(ContainmentRow(day, handled, c["contained"], c["transferred"], c["abandoned"], c["voicemail"],
                                  c["contained"] / handled if handled else None))  # fmt: skip
    return out


def intents(session: Session, *, since: datetime, until: datetime) -> list[IntentRow]:
    """Caller turns per detected intent (turns the flow matched to nothing as '(none)'), most frequent first."""
    q = (
        select(Turn.intent, func.count(), func.count(func.distinct(Turn.call_id)), func.avg(Turn.intent_score))
        .join(Call, Call.id == Turn.call_id)
        .where(Turn.speaker == "caller", Call.started_at >= since, Call.started_at < until)
        .group_by(Turn.intent)
    )
    rows = [(name or NO_INTENT, int(n), int(calls), None if not name or mean is None else float(mean))
            for name, n, calls, mean in session.execute(q)]  # fmt: skip
    total = sum(n for _, n, _, _ in rows)
    rows.sort(key=lambda r: (-r[1], r[0]))
    return [IntentRow(name, n, calls, n / total, mean) for name, n, calls, mean in rows]


def queues(
    session: Session, *, since: datetime, until: datetime, service_level_seconds: float = 20.0, by_day: bool = False,
    by_agent: bool = False,
) -> list[QueueRow]:  # fmt: skip
    """Per queue (and per day with `by_day`): offered, answered, abandoned, service level, ASA, abandon rate, AHT.

    With `by_agent` the rows are agents (in the `queue` field) and count only the calls each answered.
    """
    q = (
        select(QueueEvent.queue, QueueEvent.kind, QueueEvent.wait_seconds, QueueEvent.at, QueueEvent.agent_id,
               Call.ended_at)
        .outerjoin(Call, Call.id == QueueEvent.call_id)
        .where(QueueEvent.kind.in_(("enqueued", "answered", "abandoned")), QueueEvent.queue != "",
               QueueEvent.at >= since, QueueEvent.at < until)
    )  # fmt: skip
    events = session.execute(q).all()
    wraps = _wrap_ups(session, {e[4] for e in events if e[1] == "answered" and e[4]}, since, until)
    groups: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for queue, kind, wait, at, agent, ended in events:
        if by_agent and not agent:
            continue
        key = (agent if by_agent else queue, _day(at) if by_day else "all")
        counts[key][kind] += 1
        if wait is not None and kind in ("answered", "abandoned"):
            groups[key][kind].append(float(wait))
        if kind == "answered" and ended is not None and ended > at:
            talk = (ended - at).total_seconds()
            wrap = _wrap_after(wraps.get(agent, []), ended)
            groups[key]["talk"].append(talk)
            groups[key]["wrap"].append(wrap)
            groups[key]["handle"].append(talk + wrap)
    out = []
    for queue, day in sorted(counts):
        c, w = counts[(queue, day)], groups[(queue, day)]
        answered, abandoned = c["answered"], c["abandoned"]
        within = sum(1 for x in w["answered"] if x <= service_level_seconds)
        # an answered event without a wait (never seen in practice) counts as within the threshold
        within += answered - len(w["answered"])
        closed = answered + abandoned
        out.append(QueueRow(queue, day, c["enqueued"], answered, abandoned, within / closed if closed else None,
                            _mean(w["answered"]), abandoned / closed if closed else None, _mean(w["handle"]),
                            _mean(w["talk"]), _mean(w["wrap"])))  # fmt: skip
    return out


def _wrap_ups(session: Session, agents: set[str], since: datetime, until: datetime) -> dict[
        str, list[tuple[datetime, float]]]:  # fmt: skip
    """Per agent: (start, seconds) of each wrap-up, in time order (a wrap-up ends at the agent's next state)."""
    if not agents:
        return {}
    q = (
        select(QueueEvent.agent_id, QueueEvent.detail, QueueEvent.at)
        .where(QueueEvent.kind == "agent_state", QueueEvent.agent_id.in_(agents), QueueEvent.at >= since,
               QueueEvent.at < until + timedelta(days=1))
        .order_by(QueueEvent.agent_id, QueueEvent.at, QueueEvent.id)
    )  # fmt: skip
    out: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    open_at: dict[str, datetime] = {}
    for agent, state, at in session.execute(q):
        start = open_at.pop(agent, None)
        if start is not None:
            out[agent].append((start, (at - start).total_seconds()))
        if state == "wrap_up":
            open_at[agent] = at
    return out


def _wrap_after(wraps: list[tuple[datetime, float]], ended: datetime) -> float:
    """Seconds of the agent's first wrap-up starting at the end of the call (within 5 s of it), else 0."""
    i = bisect.bisect_left(wraps, (ended - timedelta(seconds=5), -1.0))
    if i < len(wraps) and wraps[i][0] <= ended + timedelta(seconds=5):
        return wraps[i][1]
    return 0.0


def _period(t: datetime, period: str) -> str:
    if period == "day":
        return _day(t)
    if period == "week":
        monday = t - timedelta(days=t.weekday())
        return _day(monday)
    if period == "month":
        return t.strftime("%Y-%m")
    return "all"


def qa_scores(
    session: Session, *, since: datetime, until: datetime, group: str = "agent", period: str = "all",
    agents: tuple[str, ...] | None = None,
) -> list[QaRow]:  # fmt: skip
    """Reviews of calls started in the period, grouped by `group` and by `period` of the call's start."""
    columns = {"agent": Call.agent_id, "queue": Call.queue, "scorecard": Scorecard.name, "reviewer": Review.reviewer}
    key = columns.get(group)
    q = (
        select(Review.score, Review.passed, Review.failed, Call.started_at, Call.flow_name, Call.flow_version,
               key if key is not None else Call.flow_name)
        .join(Call, Call.id == Review.call_id)
        .join(Scorecard, Scorecard.id == Review.scorecard_id)
        .where(and_(Call.started_at >= since, Call.started_at < until))
    )  # fmt: skip
    if agents is not None:
        q = q.where(Call.agent_id.in_(agents))
    cells: dict[tuple[str, str], list[tuple[float | None, bool | None, bool]]] = defaultdict(list)
    for score, passed, failed, started, flow, version, value in session.execute(q):
        name = f"{flow} v{version}" if group == "flow_version" else str(value or "")
        cells[(_period(started, period), name or "(none)")].append((score, passed, failed))
    out = []
    for (when, name), items in sorted(cells.items()):
        scores = [s for s, _, _ in items if s is not None]
        judged = [p for _, p, _ in items if p is not None]
        out.append(QaRow(when, name, len(items), _mean(scores), min(scores) if scores else None,
                         sum(judged) / len(judged) if judged else None, sum(1 for *_, f in items if f)))  # fmt: skip
    return out


def latency(session: Session, *, since: datetime, until: datetime) -> list[LatencyRow]:
    """Reply latency per day (and a last row 'all'), from what each call measured and stored on its IVR turns."""
    q = (
        select(_day_of(session, Call.started_at), Turn.reply_latency)
        .join(Call, Call.id == Turn.call_id)
        .where(Turn.reply_latency.is_not(None), Call.started_at >= since, Call.started_at < until)
    )
    days: dict[str, list[float]] = defaultdict(list)
    for day, seconds in session.execute(q):
        days[day].append(float(seconds or 0.0))
        days["all"].append(float(seconds or 0.0))
    out = []
    for day in [*sorted(k for k in days if k != "all"), "all"]:
        v = days.get(day, [])
        out.append(LatencyRow(day, len(v), _mean(v), percentile(v, 0.5), percentile(v, 0.9), percentile(v, 0.99),
                              max(v) if v else None))  # fmt: skip
    return out
