"""Finding calls for QA: filters on the call row, its intents, its QA score and its transcript's full text.

Every user value is a bound parameter; the transcript words go through the same quoting as ivr.storage.search,
so FTS5 and tsquery operators a reviewer types are plain words. Sort keys come from a fixed table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    column,
    exists,
    func,
    inspect,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from ivr.storage.models import Agent, Call, Intent, Recording, Turn, User
from ivr.storage.search import _terms

OUTCOMES = ("contained", "transferred", "abandoned", "voicemail", "interrupted", "failed", "active", "ringing")
SORTS = ("started_at", "duration", "caller", "outcome", "queue", "agent", "flow", "score")
COUNT_CAP = 10_000  # past this a search says "10,000+": counting every match of a broad search costs more than it tells
SCORES_TABLE = "qa_reviews"  # helper QA-B's reviews (migration 0006): call_id, score


@dataclass(frozen=True)
class CallFilter:
    """What a reviewer searches by; empty fields do not filter."""

    since: datetime | None = None
    until: datetime | None = None
    caller: str = ""  # part of the caller's number or address
    intent: str = ""
    outcome: str = ""
    queue: str = ""
    agent: str = ""
    flow: str = ""
    flow_version: int | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    min_score: float | None = None
    max_score: float | None = None
    text: str = ""  # words of the transcript (every word must occur in one turn; word* is a prefix)
    only_agents: tuple[str, ...] | None = None  # an agent sees only the calls of these agent ids
    sort: str = "started_at"
    descending: bool = True


@dataclass(frozen=True)
class CallRow:
    """One call in the search results."""

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
    score: float | None = None
    intents: list[str] = field(default_factory=list)
    snippet: str = ""  # the first turn matching the text search
    recordings: int = 0


@dataclass(frozen=True)
class CallPage:
    """A page of results and how many calls match in all (capped at COUNT_CAP, then `more` is True)."""

    rows: list[CallRow]
    total: int
    more: bool


_SCORED: set[str] = set()  # databases (by URL) known to have the reviews table


def has_scores(session: Session) -> bool:
    """True once QA-B's reviews table exists (migration 0006)."""
    url = str(session.get_bind().engine.url)
    if url not in _SCORED and inspect(session.connection()).has_table(SCORES_TABLE):
        _SCORED.add(url)  # re-checked until it exists: a migration may add it while the process runs
    return url in _SCORED


def _score_column() -> ColumnElement[Any]:
    # Several reviewers may score a call: the call's score is their mean.
    return literal_column(f"(SELECT avg(r.score) FROM {SCORES_TABLE} r WHERE r.call_id = calls.id)")


# Past this many matching turns a word is common: walking the calls in the asked order and stopping at a page
# beats collecting every matching call first (measured on 100,000 calls: "order" 700 ms -> 40 ms on SQLite).
COMMON_TURNS = 3000


def _fts_query(session: Session, words: str) -> str:
    terms = _terms(words)
    if session.get_bind().dialect.name == "postgresql":
        return " & ".join(f"{word}:*" if prefix else word for word, prefix in terms)
    # Each word is quoted so FTS5 operators a user types (AND, NEAR, ^, :) stay plain words.
    return " ".join(f'"{word}"*' if prefix else f'"{word}"' for word, prefix in terms)


def _text_match(session: Session, words: str, *, walk_above: int | None) -> ColumnElement[bool] | None:
    """Calls with a turn matching `words`: as a per-call test when more than `walk_above` turns match, else the
    matching calls collected first."""
    if not _terms(words):
        return None
    q = _fts_query(session, words)
    if session.get_bind().dialect.name == "postgresql":
        sub = text("SELECT t.call_id FROM turns t WHERE t.tsv @@ to_tsquery('english', :fts_q)").bindparams(fts_q=q)
        return Call.id.in_(sub.columns(column("call_id", String)))
    rowids = "SELECT rowid FROM turns_fts WHERE turns_fts MATCH :fts_q"
    if walk_above is not None:
        common = session.scalar(text(f"SELECT count(*) FROM ({rowids} LIMIT {walk_above + 1})"), {"fts_q": q})
        if int(common or 0) > walk_above:
            sub = text(f"SELECT 1 AS one FROM turns t WHERE t.call_id = calls.id AND t.id IN ({rowids})")
            return exists(sub.bindparams(fts_q=q).columns(column("one", Integer)))
    sub = text(f"SELECT t.call_id FROM turns t WHERE t.id IN ({rowids})").bindparams(fts_q=q)
    return Call.id.in_(sub.columns(column("call_id", String)))


def _conditions(session: Session, f: CallFilter, *, walk_above: int | None = None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.since is not None:
        where.append(Call.started_at >= f.since)
    if f.until is not None:
        where.append(Call.started_at < f.until)
    if f.caller.strip():
        # As a list of ids: SQLite then scans the table once instead of walking the time index row by row.
        where.append(Call.id.in_(select(Call.id).where(Call.caller.contains(f.caller.strip(), autoescape=True))))
    if f.outcome:
        where.append(Call.outcome == f.outcome)
    if f.queue:
        where.append(Call.queue == f.queue)
    if f.agent:
        where.append(Call.agent_id == f.agent)
    if f.only_agents is not None:
        where.append(Call.agent_id.in_(f.only_agents) if f.only_agents else Call.id.is_(None))
    if f.flow:
        where.append(Call.flow_name == f.flow)
    if f.flow_version is not None:
        where.append(Call.flow_version == f.flow_version)
    if f.min_duration is not None:
        where.append(Call.duration_seconds >= f.min_duration)
    if f.max_duration is not None:
        where.append(Call.duration_seconds <= f.max_duration)
    if f.intent:
        where.append(exists().where(Intent.call_id == Call.id, Intent.name == f.intent))
    if f.min_score is not None or f.max_score is not None:
        if not has_scores(session):
            where.append(Call.id.is_(None))  # nothing is scored before the reviews table exists
        else:  # the scored calls first: a few thousand reviews, not a subquery per call of the whole history
            mean: ColumnElement[Any] = literal_column("avg(r.score)")
            scored: Select[Any] = select(literal_column("r.call_id")).select_from(text(f"{SCORES_TABLE} r"))
            scored = scored.group_by(literal_column("r.call_id"))
            if f.min_score is not None:
                scored = scored.having(mean >= f.min_score)
            if f.max_score is not None:
                scored = scored.having(mean <= f.max_score)
            where.append(Call.id.in_(scored))
    match = _text_match(session, f.text, walk_above=walk_above)
    if match is not None:
        where.append(match)
    return where


def _ordered(session: Session, q: Select[Any], f: CallFilter) -> Select[Any]:
    keys: dict[str, Any] = {
        "started_at": Call.started_at, "duration": Call.duration_seconds, "caller": Call.caller,
        "outcome": Call.outcome, "queue": Call.queue, "agent": Call.agent_id, "flow": Call.flow_name,
    }  # fmt: skip
    nullable = f.sort in ("duration", "score")
    if f.sort == "score" and has_scores(session):
        key = _score_column()
    else:
        key = keys.get(f.sort, Call.started_at)
    # NULLS LAST only where there can be NULLs (calls still running, unscored calls): on a NOT NULL column it
    # would stop PostgreSQL from reading the column's index in order (a sort of the whole history instead).
    if f.descending:
        return q.order_by(key.desc().nulls_last() if nullable else key.desc(), Call.id.desc())
    return q.order_by(key.asc().nulls_last() if nullable else key.asc(), Call.id.asc())


def search_calls(session: Session, f: CallFilter, *, limit: int = 50, offset: int = 0) -> CallPage:
    """Calls matching `f`, one page, sorted as asked, with the count of all matches (up to COUNT_CAP)."""
    # Counting walks the calls only when the count will surely stop at its cap (more turns match than it counts).
    where = _conditions(session, f, walk_above=COUNT_CAP)
    base = select(Call.id).where(and_(*where)) if where else select(Call.id)
    counted = int(session.scalar(select(func.count()).select_from(base.limit(COUNT_CAP + 1).subquery())) or 0)
    rows = _rows(session, f, _conditions(session, f, walk_above=COMMON_TURNS) if f.text else where, limit, offset)
    return CallPage(rows=rows, total=min(counted, COUNT_CAP), more=counted > COUNT_CAP)


def iter_calls(session: Session, f: CallFilter, *, limit: int, chunk: int = 2000) -> Iterator[CallRow]:
    """Up to `limit` matching calls in the asked order, read a chunk at a time (for the CSV export)."""
    where = _conditions(session, f, walk_above=COMMON_TURNS)
    for offset in range(0, limit, chunk):
        rows = _rows(session, f, where, min(chunk, limit - offset), offset)
        yield from rows
        if len(rows) < chunk:
            return


def _rows(session: Session, f: CallFilter, where: list[ColumnElement[bool]], limit: int, offset: int) -> list[CallRow]:
    scored = has_scores(session)
    columns: list[Any] = [Call.id, Call.started_at, Call.caller, Call.flow_name, Call.flow_version, Call.status,
                          Call.outcome, Call.queue, Call.agent_id, Call.duration_seconds]  # fmt: skip
    if scored:
        columns.append(_score_column().label("score"))
    q = select(*columns)
    if where:
        q = q.where(and_(*where))
    found = session.execute(_ordered(session, q, f).limit(limit).offset(offset)).all()
    ids = [r[0] for r in found]
    if not ids:
        return []
    intents: dict[str, list[str]] = {}
    for call_id, name in session.execute(
        select(Intent.call_id, Intent.name).where(Intent.call_id.in_(ids)).order_by(Intent.id)
    ):
        names = intents.setdefault(call_id, [])
        if name not in names:
            names.append(name)
    recordings = dict(
        session.execute(  # type: ignore[arg-type]
            select(Recording.call_id, func.count())
            .where(Recording.call_id.in_(ids), Recording.purged_at.is_(None))
            .group_by(Recording.call_id)
        ).all()
    )
    snippets = _snippets(session, f.text, ids)
    return [
        CallRow(
            call_id=r[0],
            started_at=r[1],
            caller=r[2],
            flow_name=r[3],
            flow_version=r[4],
            status=r[5],
            outcome=r[6],
            queue=r[7],
            agent_id=r[8],
            duration_seconds=r[9],
            score=float(r[10]) if scored and r[10] is not None else None,
            intents=intents.get(r[0], []),
            snippet=snippets.get(r[0], ""),
            recordings=int(recordings.get(r[0], 0)),
        )
        for r in found
    ]


def _snippets(session: Session, words: str, ids: list[str]) -> dict[str, str]:
    """The first turn of each call on the page that matches the text search."""
    if not _terms(words):
        return {}
    q = _fts_query(session, words)
    if session.get_bind().dialect.name == "postgresql":
        cond: ColumnElement[bool] = literal_column("turns.tsv").op("@@")(func.to_tsquery("english", q))
    else:
        hits = text("SELECT rowid FROM turns_fts WHERE turns_fts MATCH :snip_q").bindparams(snip_q=q)
        # "+" keeps SQLite on the page's turns (call_id index) rather than looking up every matching turn.
        cond = literal_column("+turns.id").in_(hits.columns(column("rowid", Integer)))
    out: dict[str, str] = {}
    rows = session.execute(
        select(Turn.call_id, Turn.text).where(Turn.call_id.in_(ids), cond).order_by(Turn.start_offset, Turn.id)
    )
    for call_id, said in rows:
        out.setdefault(call_id, said)
    return out


def agent_ids_of(session: Session, username: str) -> tuple[str, ...]:
    """The agent ids a console user is: agents linked to the user, or whose id is the user name."""
    linked = select(Agent.id).join(User, User.id == Agent.user_id).where(User.username == username)
    ids = set(session.scalars(linked)) | set(session.scalars(select(Agent.id).where(Agent.id == username)))
    return tuple(sorted(ids)) or (username,)


def facets(session: Session) -> dict[str, list[str]]:
    """Values the search form offers: queues, agents, flows, intents (distinct, from the calls so far)."""

    def distinct(column: Any) -> list[str]:
        return [str(v) for v in session.scalars(select(column).distinct().order_by(column)) if v not in ("", None)]

    return {
        "queues": distinct(Call.queue),
        "agents": distinct(Call.agent_id),
        "flows": distinct(Call.flow_name),
        "intents": distinct(Intent.name),
        "outcomes": list(OUTCOMES[:6]),
    }


def call_ids_of_number(session: Session, number: str) -> list[tuple[str, str, datetime]]:
    """Calls whose caller address holds `number` as its user part or whole value: (id, caller, started_at)."""
    wanted = number.strip()
    if not wanted:
        return []
    rows = session.execute(
        select(Call.id, Call.caller, Call.started_at)
        .where(or_(Call.caller == wanted, Call.caller.contains(wanted, autoescape=True)))
        .order_by(Call.started_at)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows if number_of(r[1]) == number_of(wanted)]


def number_of(address: str) -> str:
    """The number in a caller address: '"Ann" <sip:+8613800001111@host>' -> '+8613800001111'."""
    a = address.strip()
    if "<" in a and ">" in a:
        a = a[a.index("<") + 1 : a.index(">")]
    for scheme in ("sips:", "sip:", "tel:"):
        if a.lower().startswith(scheme):
            a = a[len(scheme) :]
    a = a.split("@", 1)[0].split(";", 1)[0]
    return "".join(ch for ch in a if ch.isdigit() or ch == "+") or a
