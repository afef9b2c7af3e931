"""After-call surveys (CSAT) and the follow-up tasks low scores create: writes, the task list and the report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ivr.storage.errors import StorageError
from ivr.storage.models import Call, FollowUpTask, Survey

if TYPE_CHECKING:
    from ivr.storage.store import CallStore

SCORES = (1, 2, 3, 4, 5)
TASK_STATUSES = ("open", "closed")


class TaskNotFound(StorageError):
    """No follow-up task has this id."""


@dataclass(frozen=True)
class SurveyResult:
    """What one survey gave, as the session layer reports it."""

    call_id: str
    agent_id: str
    queue: str
    flow_name: str
    score: int | None
    method: str  # dtmf | speech | ''
    outcome: str  # answered | invalid | no_input | hung_up
    offered_at: datetime
    answered_at: datetime | None = None


@dataclass(frozen=True)
class TaskRow:
    """A follow-up task, as the tasks page lists it."""

    id: int
    kind: str
    call_id: str
    agent_id: str
    queue: str
    caller: str
    score: int | None
    summary: str
    status: str
    assignee: str
    note: str
    created_at: datetime
    updated_at: datetime
    closed_by: str
    closed_at: datetime | None


@dataclass(frozen=True)
class CsatRow:
    """Survey figures of one agent or queue: offered, answered, mean score, CSAT (4s and 5s) and each score."""

    group: str
    offered: int
    answered: int
    mean_score: float | None
    csat: float | None  # share of answers that were 4 or 5
    low: int  # answers at or below the follow-up level
    s1: int
    s2: int
    s3: int
    s4: int
    s5: int


def _task(t: FollowUpTask) -> TaskRow:
    return TaskRow(t.id, t.kind, t.call_id, t.agent_id, t.queue, t.caller, t.score, t.summary, t.status, t.assignee,
                   t.note, t.created_at, t.updated_at, t.closed_by, t.closed_at)  # fmt: skip


def record_survey(session: Session, r: SurveyResult, *, followup_at_or_below: int) -> TaskRow | None:
    """Store a survey; a score at or below the level also opens a follow-up task, which is returned."""
    if r.score is not None and r.score not in SCORES:
        raise StorageError(f"survey score {r.score} of call {r.call_id} is not 1 to 5")
    survey = Survey(call_id=r.call_id, agent_id=r.agent_id, queue=r.queue, flow_name=r.flow_name, score=r.score,
                    method=r.method, outcome=r.outcome, offered_at=r.offered_at, answered_at=r.answered_at)  # fmt: skip
    session.add(survey)
    session.flush()
    if r.score is None or r.score > followup_at_or_below:
        return None
    caller = session.scalar(select(Call.caller).where(Call.id == r.call_id)) or ""
    now = datetime.now(UTC)
    task = FollowUpTask(
        kind="low_csat", call_id=r.call_id, survey_id=survey.id, agent_id=r.agent_id, queue=r.queue,
        caller=caller, score=r.score, status="open", assignee="", note="", created_at=now, updated_at=now,
        closed_by="", closed_at=None,
        summary=f"The caller rated the call {r.score} of 5 (agent {r.agent_id or 'unknown'}, queue "
                f"{r.queue or 'none'}): call them back.",
    )  # fmt: skip
    session.add(task)
    session.flush()
    return _task(task)


def call_survey(session: Session, call_id: str) -> dict[str, Any] | None:
    """The survey of one call (score, method, outcome, agent), None if it had none."""
    s = session.scalar(select(Survey).where(Survey.call_id == call_id))
    if s is None:
        return None
    return {"score": s.score, "method": s.method, "outcome": s.outcome, "agent_id": s.agent_id, "queue": s.queue,
            "offered_at": s.offered_at, "answered_at": s.answered_at}  # fmt: skip


def list_tasks(session: Session, *, status: str = "", limit: int = 200) -> list[TaskRow]:
    """Tasks, open first and newest first within each; `status` filters."""
    q = select(FollowUpTask)
    if status:
        q = q.where(FollowUpTask.status == status)
    order = case((FollowUpTask.status == "open", 0), else_=1)
    rows = session.scalars(q.order_by(order, FollowUpTask.created_at.desc(), FollowUpTask.id.desc()).limit(limit))
    return [_task(t) for t in rows]


def count_open(session: Session) -> int:
    """How many tasks are open."""
    return int(session.scalar(select(func.count()).where(FollowUpTask.status == "open")) or 0)


def get_task(session: Session, task_id: int) -> TaskRow:
    """One task; TaskNotFound if there is none."""
    t = session.get(FollowUpTask, task_id)
    if t is None:
        raise TaskNotFound(f"no follow-up task {task_id}")
    return _task(t)


def update_task(
    session: Session,
    task_id: int,
    *,
    by: str,
    assignee: str | None = None,
    close_note: str | None = None,
    reopen: bool = False,
) -> tuple[TaskRow, TaskRow]:
    """Assign, close (with a note) or reopen a task; returns it before and after."""
    t = session.get(FollowUpTask, task_id)
    if t is None:
        raise TaskNotFound(f"no follow-up task {task_id}")
    before = _task(t)
    now = datetime.now(UTC)
    if assignee is not None:
        t.assignee = assignee
    if close_note is not None:
        t.status, t.note, t.closed_by, t.closed_at = "closed", close_note, by, now
    elif reopen:
        t.status, t.closed_by, t.closed_at = "open", "", None
    t.updated_at = now
    session.flush()
    return before, _task(t)


def csat_report(
    session: Session, *, since: datetime, until: datetime, group: str, followup_at_or_below: int
) -> list[CsatRow]:
    """Survey figures per agent or per queue for surveys offered in [since, until); the last row is 'all'."""
    column = Survey.agent_id if group == "agent" else Survey.queue
    counts = [func.sum(case((Survey.score == n, 1), else_=0)) for n in SCORES]
    low = func.sum(case((Survey.score <= followup_at_or_below, 1), else_=0))
    q = (select(column, func.count(), func.count(Survey.score), func.avg(Survey.score), low, *counts)
         .where(Survey.offered_at >= since, Survey.offered_at < until))  # fmt: skip
    rows = [_row(g or "(none)", *rest) for g, *rest in session.execute(q.group_by(column).order_by(column))]
    if rows:
        total = [sum(getattr(r, f) for r in rows) for f in ("offered", "answered", "low", "s1", "s2", "s3", "s4", "s5")]
        offered, answered, low_n, *hist = total
        mean = sum(n * c for n, c in zip(SCORES, hist, strict=True)) / answered if answered else None
        rows.append(_row("all", offered, answered, mean, low_n, *hist))
    return rows


def _row(group: str, offered: Any, answered: Any, mean: Any, low: Any, *hist: Any) -> CsatRow:
    s = [int(h or 0) for h in hist]
    answered = int(answered or 0)
    return CsatRow(group, int(offered or 0), answered, None if mean is None else round(float(mean), 3),
                   (s[3] + s[4]) / answered if answered else None, int(low or 0), *s)  # fmt: skip


class CsatStore:
    """Async door to the survey and task tables; every call runs in the store's read threads."""

    def __init__(self, store: CallStore) -> None:
        self._store = store

    async def _do(self, fn: Any, *args: Any, commit: bool = False, **kwargs: Any) -> Any:
        return await self._store._session(fn, *args, commit=commit, **kwargs)

    async def record_survey(self, result: SurveyResult, *, followup_at_or_below: int) -> TaskRow | None:
        """Store a survey (and its follow-up task when the score is low)."""
        task: TaskRow | None = await self._do(record_survey, result, followup_at_or_below=followup_at_or_below,
                                              commit=True)  # fmt: skip
        return task

    async def call_survey(self, call_id: str) -> dict[str, Any] | None:
        """The survey of one call, if it had one."""
        found: dict[str, Any] | None = await self._do(call_survey, call_id)
        return found

    async def tasks(self, *, status: str = "", limit: int = 200) -> list[TaskRow]:
        """The follow-up tasks, open first."""
        rows: list[TaskRow] = await self._do(list_tasks, status=status, limit=limit)
        return rows

    async def open_tasks(self) -> int:
        """How many follow-up tasks are open."""
        n: int = await self._do(count_open)
        return n

    async def task(self, task_id: int) -> TaskRow:
        """One task (TaskNotFound if none)."""
        row: TaskRow = await self._do(get_task, task_id)
        return row

    async def update_task(
        self, task_id: int, *, by: str, assignee: str | None = None, close_note: str | None = None, reopen: bool = False
    ) -> tuple[TaskRow, TaskRow]:
        """Assign, close or reopen a task; (before, after)."""
        pair: tuple[TaskRow, TaskRow] = await self._do(
            update_task, task_id, by=by, assignee=assignee, close_note=close_note, reopen=reopen, commit=True
        )
        return pair

    async def report(self, *, since: datetime, until: datetime, group: str, followup_at_or_below: int) -> list[CsatRow]:
        """Survey figures per agent or queue."""
        rows: list[CsatRow] = await self._do(csat_report, since=since, until=until, group=group,
                                             followup_at_or_below=followup_at_or_below)  # fmt: skip
        return rows
