"""QA reviewers find calls: filters, full-text search of transcripts, sorting, paging and a CSV export.

Agents may search too, but only ever see the calls they took themselves.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field, model_validator

from ivr.storage.call_search import SORTS, CallFilter, CallRow
from ivr.web.api import EVERYONE, Api, ApiCall, ApiError

api = Api()
EXPORT_LIMIT = 50_000  # rows in one CSV export; narrow the search for more


class CallQuery(BaseModel):
    """What to search by (every field optional) and how to sort and page."""

    since: str = Field(default="", description="first day (YYYY-MM-DD) or time (ISO 8601, UTC if no zone)")
    until: str = Field(default="", description="last day (YYYY-MM-DD, inclusive) or time (ISO 8601, exclusive)")
    caller: str = Field(default="", max_length=64, description="part of the caller's number")
    intent: str = Field(default="", max_length=128)
    outcome: Literal["", "contained", "transferred", "abandoned", "voicemail", "interrupted", "failed"] = ""
    queue: str = Field(default="", max_length=128)
    agent: str = Field(default="", max_length=128)
    flow: str = Field(default="", max_length=128)
    version: int | None = Field(default=None, ge=1, description="flow version")
    min_seconds: float | None = Field(default=None, ge=0)
    max_seconds: float | None = Field(default=None, ge=0)
    min_score: float | None = Field(default=None, ge=0, le=100)
    max_score: float | None = Field(default=None, ge=0, le=100)
    text: str = Field(default="", max_length=200, description="words of the transcript; word* matches a prefix")
    sort: Literal[SORTS] = "started_at"  # type: ignore[valid-type]
    order: Literal["desc", "asc"] = "desc"
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        # A search form sends every field, empty ones as "": they mean "any".
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v != ""}
        return data


class CallOut(BaseModel):
    """One call in the results."""

    call_id: str
    started_at: datetime
    caller: str
    flow_name: str
    flow_version: int | None
    status: str
    outcome: str
    queue: str
    agent_id: str
    duration_seconds: float | None
    score: float | None
    intents: list[str]
    snippet: str
    recordings: int


class CallResults(BaseModel):
    """A page of calls, the count of all that match (`more`: over the count's cap), and the query echoed back."""

    calls: list[CallOut]
    total: int
    more: bool
    limit: int
    offset: int
    query: CallQuery
    facets: dict[str, list[str]]
    own_calls_only: bool


def _when(value: str, *, end: bool) -> datetime | None:
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        which = "until" if end else "since"
        raise ApiError(400, f"{which}={value!r} is not a date; use YYYY-MM-DD or an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def call_filter(call: ApiCall, q: CallQuery) -> CallFilter:
    """The storage filter of a query; an agent's is narrowed to the calls they took."""
    only = await call.ctx.store.qa.agent_ids_of(call.user.username) if call.user.role == "agent" else None
    return CallFilter(
        since=_when(q.since, end=False), until=_when(q.until, end=True), caller=q.caller, intent=q.intent,
        outcome=q.outcome, queue=q.queue, agent=q.agent, flow=q.flow, flow_version=q.version,
        min_duration=q.min_seconds, max_duration=q.max_seconds, min_score=q.min_score, max_score=q.max_score,
        text=q.text, only_agents=only, sort=q.sort, descending=q.order == "desc",
    )  # fmt: skip


def _out(r: CallRow) -> CallOut:
    return CallOut(
        call_id=r.call_id, started_at=r.started_at, caller=r.caller, flow_name=r.flow_name,
        flow_version=r.flow_version, status=r.status, outcome=r.outcome, queue=r.queue, agent_id=r.agent_id,
        duration_seconds=None if r.duration_seconds is None else round(r.duration_seconds, 1),
        score=None if r.score is None else round(r.score, 1), intents=r.intents, snippet=r.snippet,
        recordings=r.recordings,
    )  # fmt: skip


@api.route("GET", "/api/calls", roles=EVERYONE, summary="Search calls", tag="qa", query=CallQuery,
           response=CallResults)  # fmt: skip
async def search_calls(call: ApiCall) -> CallResults:
    """Calls by date, caller, intent, outcome, queue, agent, duration, flow version, QA score and transcript words."""
    q: CallQuery = call.query
    f = await call_filter(call, q)
    page = await call.ctx.store.qa.search_calls(f, limit=q.limit, offset=q.offset)
    facets = await call.ctx.store.qa.facets() if call.user.role != "agent" else {"outcomes": [], "intents": []}
    return CallResults(calls=[_out(r) for r in page.rows], total=page.total, more=page.more, limit=q.limit,
                       offset=q.offset, query=q, facets=facets, own_calls_only=f.only_agents is not None)  # fmt: skip


CSV_COLUMNS = ("call_id", "started_at", "caller", "flow_name", "flow_version", "outcome", "status", "queue", "agent_id",
               "duration_seconds", "score", "intents", "snippet")  # fmt: skip


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ is a formula to a spreadsheet: a caller could make a reviewer's Excel run one.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@api.route("GET", "/api/calls.csv", roles=EVERYONE, summary="Export a call search as CSV", tag="qa", query=CallQuery,
           content_type="text/csv")  # fmt: skip
async def export_calls(call: ApiCall) -> web.StreamResponse:
    """Every call matching the search (up to 50,000) as CSV, in the asked order; audited."""
    q: CallQuery = call.query
    rows = await call.ctx.store.qa.export_calls(await call_filter(call, q), limit=EXPORT_LIMIT)
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(CSV_COLUMNS)
    for r in rows:
        values = {**_out(r).model_dump(mode="json"), "intents": " ".join(r.intents)}
        out.writerow([_csv_cell(values[c]) for c in CSV_COLUMNS])
    await call.audit("calls.export", "", rows=len(rows), query=q.model_dump(exclude_defaults=True))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return web.Response(body=buf.getvalue().encode("utf-8"), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="calls-{stamp}.csv"',
                                 "Cache-Control": "no-store"})  # fmt: skip


api.page("/calls", "calls.html", title="Calls", roles=EVERYONE, route=search_calls)
