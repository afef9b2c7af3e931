"""Reports, each a page, CSV and JSON: volume, containment, intents, queues, agents, QA, CSAT, reply latency.

Periods are whole UTC days, `since` to `until` inclusive (default: the last 7 days). Reviewers
(qa, supervisor, admin) read every report; an agent reads only the QA-scores report, of their own calls.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from ivr.storage.csat import CsatRow, CsatStore
from ivr.storage.qa_reports import (
    ContainmentRow,
    IntentRow,
    LatencyRow,
    QaRow,
    QueueRow,
    VolumeRow,
)
from ivr.web.api import EVERYONE, Api, ApiCall, ApiError
from ivr.web.qa_models import REVIEWERS

api = Api()
MAX_DAYS = 366


class ReportQuery(BaseModel):
    """The period (UTC days, inclusive), and the options some reports take."""

    since: date | None = None
    until: date | None = None
    group: Literal["agent", "queue", "flow_version", "scorecard", "reviewer"] = "agent"  # QA scores
    period: Literal["day", "week", "month", "all"] = "all"  # QA scores
    service_level: float = Field(default=20.0, gt=0, le=3600)  # queues: answered within this many seconds
    table: str = Field(default="", max_length=32)  # CSV: which of the report's tables (default: the first)


class Period(BaseModel):
    """The days a report covers, and the columns of each of its tables in order."""

    since: date
    until: date
    columns: dict[str, list[str]] = Field(default_factory=dict)

    def model_post_init(self, context: Any) -> None:
        """Fill `columns` from the row types of the report's tables."""
        self.columns = {name: _columns(type(self), name) for name, value in self if isinstance(value, list)}


class VolumeReport(Period):
    """Calls by hour of the day (UTC) and by day."""

    by_day: list[VolumeRow]
    by_hour: list[VolumeRow]


class ContainmentReport(Period):
    """Answered calls the bot resolved without an agent, per day; the last row ('all') is the whole period."""

    days: list[ContainmentRow]


class IntentsReport(Period):
    """Caller turns per detected intent."""

    intents: list[IntentRow]


class QueuesReport(Period):
    """Service level, speed of answer, abandons and handle time per queue, and per queue and day."""

    service_level_seconds: float
    queues: list[QueueRow]
    by_day: list[QueueRow]


class AgentRow(BaseModel):
    """One agent over the period: where the logged-in time went, calls, handle time, QA."""

    agent_id: str
    logged_in: float
    available: float
    working: float
    not_ready: float
    occupancy: float | None
    calls_answered: int
    aht: float | None
    reviews: int
    mean_score: float | None


class AgentsReport(Period):
    """Occupancy, handle time and QA score per agent."""

    agents: list[AgentRow]


class QaReport(Period):
    """Review scores grouped by agent, queue, flow version, scorecard or reviewer, over days, weeks or months."""

    group: str
    period: str
    own_calls_only: bool  # an agent sees the reviews of their own calls only
    rows: list[QaRow]


class LatencyReport(Period):
    """Seconds from the end of the caller's speech to the first audio of the reply, per day ('all' last)."""

    days: list[LatencyRow]


class CsatReport(Period):
    """After-call survey (CSAT) per agent and per queue: offered, answered, mean, share of 4s and 5s, each score."""

    followup_at_or_below: int  # a score this low or lower opened a follow-up task ('low')
    agents: list[CsatRow]
    queues: list[CsatRow]


def _period(q: ReportQuery) -> tuple[date, date, datetime, datetime]:
    until = q.until or datetime.now(UTC).date()
    since = q.since or until - timedelta(days=6)
    if since > until:
        raise ApiError(400, f"the period starts ({since}) after it ends ({until}); swap the dates")
    if (until - since).days >= MAX_DAYS:
        raise ApiError(400, f"a report covers at most {MAX_DAYS} days; shorten the period")
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    end = datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1)
    return since, until, start, end


async def volume(call: ApiCall) -> VolumeReport:
    """Calls by hour of the day and by day: offered, answered, contained, transferred, abandoned."""
    since, until, start, end = _period(call.query)
    by_hour, by_day = await call.ctx.store.qa.report("volume", since=start, until=end)
    return VolumeReport(since=since, until=until, by_day=by_day, by_hour=by_hour)


async def containment(call: ApiCall) -> ContainmentReport:
    """Containment rate per day: contained over answered calls that ended on their own."""
    since, until, start, end = _period(call.query)
    rows = await call.ctx.store.qa.report("containment", since=start, until=end)
    return ContainmentReport(since=since, until=until, days=rows)


async def intents(call: ApiCall) -> IntentsReport:
    """What callers asked for: turns and calls per detected intent, and the mean score."""
    since, until, start, end = _period(call.query)
    rows = await call.ctx.store.qa.report("intents", since=start, until=end)
    return IntentsReport(since=since, until=until, intents=rows)


async def queues(call: ApiCall) -> QueuesReport:
    """Per queue: service level, average speed of answer, abandon rate, average handle time."""
    q: ReportQuery = call.query
    since, until, start, end = _period(q)
    report = call.ctx.store.qa.report
    rows = await report("queues", since=start, until=end, service_level_seconds=q.service_level)
    daily = await report("queues", since=start, until=end, service_level_seconds=q.service_level, by_day=True)
    return QueuesReport(since=since, until=until, service_level_seconds=q.service_level, queues=rows, by_day=daily)


async def agents(call: ApiCall) -> AgentsReport:
    """Per agent: occupancy (working over working plus available time), calls answered, AHT, QA score."""
    since, until, start, end = _period(call.query)
    store = call.ctx.store
    occupancy = {o.agent_id: o for o in await store.agent_occupancy(since=start, until=end)}
    handled = {r.queue: r for r in await store.qa.report("queues", since=start, until=end, by_agent=True)}
    scores = {r.group: r for r in await store.qa.report("qa_scores", since=start, until=end, group="agent")}
    rows = []
    for agent in sorted((set(occupancy) | set(handled) | set(scores)) - {"(none)"}):
        o, h, s = occupancy.get(agent), handled.get(agent), scores.get(agent)
        rows.append(AgentRow(
            agent_id=agent, logged_in=o.logged_in if o else 0.0, available=o.available if o else 0.0,
            working=o.working if o else 0.0, not_ready=o.not_ready if o else 0.0,
            occupancy=o.occupancy if o else None,
            calls_answered=o.calls_answered if o else (h.answered if h else 0), aht=h.aht if h else None,
            reviews=s.reviews if s else 0, mean_score=s.mean_score if s else None,
        ))  # fmt: skip
    return AgentsReport(since=since, until=until, agents=rows)


async def qa_scores(call: ApiCall) -> QaReport:
    """Review scores by agent, queue, flow version, scorecard or reviewer, per day, week or month."""
    q: ReportQuery = call.query
    since, until, start, end = _period(q)
    own = call.user.role == "agent"
    agents_ = await call.ctx.store.qa.agent_ids_of(call.user.username) if own else None
    rows = await call.ctx.store.qa.report("qa_scores", since=start, until=end, group=q.group, period=q.period,
                                          agents=agents_)  # fmt: skip
    return QaReport(since=since, until=until, group=q.group, period=q.period, own_calls_only=own, rows=rows)


async def latency(call: ApiCall) -> LatencyReport:
    """Reply latency per day: mean, p50, p90, p99 and max seconds."""
    since, until, start, end = _period(call.query)
    rows = await call.ctx.store.qa.report("latency", since=start, until=end)
    return LatencyReport(since=since, until=until, days=rows)


async def csat(call: ApiCall) -> CsatReport:
    """After-call survey scores per agent and per queue; the last row of each table is the whole floor."""
    since, until, start, end = _period(call.query)
    level = call.ctx.survey.followup_at_or_below
    report = CsatStore(call.ctx.store).report
    agents_ = await report(since=start, until=end, group="agent", followup_at_or_below=level)
    queues_ = await report(since=start, until=end, group="queue", followup_at_or_below=level)
    return CsatReport(since=since, until=until, followup_at_or_below=level, agents=agents_, queues=queues_)


@dataclasses.dataclass(frozen=True)
class Report:
    """One report: its name in paths, title, what it shows, who may read it, and its handler."""

    name: str
    title: str
    blurb: str
    roles: frozenset[str]
    handler: Callable[[ApiCall], Awaitable[BaseModel]]
    response: type[BaseModel]


REPORTS = (
    Report("volume", "Call volume", "Calls by hour of the day and by day.", REVIEWERS, volume, VolumeReport),
    Report("containment", "Containment", "Answered calls resolved by the bot without an agent.", REVIEWERS,
           containment, ContainmentReport),
    Report("intents", "Intents", "What callers asked for.", REVIEWERS, intents, IntentsReport),
    Report("queues", "Queues", "Service level, speed of answer, abandons, handle time.", REVIEWERS, queues,
           QueuesReport),
    Report("agents", "Agents", "Occupancy, calls, handle time and QA score per agent.", REVIEWERS, agents,
           AgentsReport),
    Report("qa", "QA scores", "Review scores by agent, queue or flow version over time.", EVERYONE, qa_scores,
           QaReport),
    Report("csat", "Customer satisfaction", "After-call survey scores (1 to 5) per agent and per queue.", REVIEWERS,
           csat, CsatReport),
    Report("latency", "Reply latency", "From the end of the caller's speech to the reply's first audio.",
           REVIEWERS, latency, LatencyReport),
)  # fmt: skip


def tables(report: BaseModel) -> dict[str, list[Any]]:
    """The report's tables (its list fields), in declaration order."""
    return {name: value for name, value in report if isinstance(value, list)}


def to_csv(report: BaseModel, table: str) -> str:
    """One table of a report as CSV, with a header row."""
    found = tables(report)
    name = table or next(iter(found))
    if name not in found:
        raise ApiError(400, f"this report has no table {table!r}; use one of {', '.join(found)}")
    rows = [r.model_dump() if isinstance(r, BaseModel) else dataclasses.asdict(r) for r in found[name]]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = list(rows[0]) if rows else _columns(type(report), name)
    writer.writerow(header)
    for r in rows:
        writer.writerow(["" if r[k] is None else round(r[k], 4) if isinstance(r[k], float) else r[k] for k in header])
    return out.getvalue()


def _columns(kind: type[BaseModel], table: str) -> list[str]:
    """Column names of an empty table, from its row type."""
    item = kind.model_fields[table].annotation
    args = getattr(item, "__args__", ())
    row = args[0] if args else None
    if row is not None and dataclasses.is_dataclass(row):
        return [f.name for f in dataclasses.fields(row)]
    if isinstance(row, type) and issubclass(row, BaseModel):
        return list(row.model_fields)
    return []


def _register(r: Report) -> None:
    json_route = api.route("GET", f"/api/reports/{r.name}", roles=r.roles, summary=f"Report: {r.title.lower()}",
                           tag="reports", query=ReportQuery, response=r.response)(r.handler)  # fmt: skip

    async def as_csv(call: ApiCall) -> web.StreamResponse:
        report = await r.handler(call)
        since, until = getattr(report, "since", ""), getattr(report, "until", "")
        body = to_csv(report, call.query.table)
        name = f"{r.name}-{call.query.table or next(iter(tables(report)))}-{since}-{until}.csv"
        return web.Response(text=body, content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip

    api.route("GET", f"/api/reports/{r.name}.csv", roles=r.roles, summary=f"Report as CSV: {r.title.lower()}",
              tag="reports", query=ReportQuery, content_type="text/csv")(as_csv)  # fmt: skip
    api.page(f"/reports/{r.name}", "reports_view.html", title=r.title, roles=r.roles, route=json_route)


for _r in REPORTS:
    _register(_r)


class ReportIndex(BaseModel):
    """The reports this user may open."""

    reports: list[dict[str, str]]


@api.route("GET", "/api/reports", roles=EVERYONE, summary="List reports", tag="reports", response=ReportIndex)
async def report_index(call: ApiCall) -> ReportIndex:
    """Each report this user may read, with its page, JSON and CSV addresses."""
    return ReportIndex(reports=[
        {"name": r.name, "title": r.title, "blurb": r.blurb, "page": f"/reports/{r.name}",
         "json": f"/api/reports/{r.name}", "csv": f"/api/reports/{r.name}.csv"}
        for r in REPORTS if call.user.role in r.roles
    ])  # fmt: skip


api.page("/reports", "reports.html", title="Reports", roles=EVERYONE, route=report_index)
