"""Follow-up tasks: callers who rated their call low in the after-call survey, for a supervisor to call back.

`GET /api/tasks` lists them (open first) and `/tasks` is its page; `PATCH /api/tasks/{id}` assigns a task to a
supervisor, closes it with a note saying what the call-back found, or reopens it. Every change is audited, and the
live floor's alert about open follow-ups is updated at once.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ivr.storage.csat import CsatStore, TaskNotFound, TaskRow
from ivr.web.api import STAFF, Api, ApiCall, ApiError

api = Api()


class TaskQuery(BaseModel):
    """Which tasks to list."""

    status: Literal["open", "closed", "all"] = "open"


class TaskOut(BaseModel):
    """One follow-up task."""

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


class TaskList(BaseModel):
    """The tasks asked for, how many are open, who they can be assigned to, and the score that opens one."""

    status: str
    open_count: int
    items: list[TaskOut]
    assignees: list[str]
    followup_at_or_below: int


class TaskChange(BaseModel):
    """Assign (a username, '' to unassign), close with a note, or reopen; at least one."""

    assignee: str | None = Field(default=None, max_length=128)
    close_note: str | None = Field(default=None, max_length=4000)
    reopen: bool = False

    @model_validator(mode="after")
    def _one_change(self) -> TaskChange:
        if self.assignee is None and self.close_note is None and not self.reopen:
            raise ValueError("give assignee, close_note or reopen: true")
        if self.close_note is not None and not self.close_note.strip():
            raise ValueError("a task is closed with a note saying what the call-back found; write one")
        if self.close_note is not None and self.reopen:
            raise ValueError("close or reopen, not both")
        return self


def task_out(t: TaskRow) -> TaskOut:
    """The API shape of a stored task."""
    return TaskOut.model_validate({**dataclasses.asdict(t), "caller": _number(t.caller)})


async def _assignees(call: ApiCall) -> list[str]:
    users = await call.ctx.store.console.list_users()
    return sorted(u.username for u in users if u.role in STAFF and not u.disabled)


@api.route("GET", "/api/tasks", roles=STAFF, summary="List follow-up tasks", tag="tasks", query=TaskQuery,
           response=TaskList)  # fmt: skip
async def list_tasks(call: ApiCall) -> TaskList:
    """Follow-up tasks (open ones by default), open first, newest first."""
    csat = CsatStore(call.ctx.store)
    status = call.query.status
    rows = await csat.tasks(status="" if status == "all" else status)
    return TaskList(status=status, open_count=await csat.open_tasks(), items=[task_out(t) for t in rows],
                    assignees=await _assignees(call),
                    followup_at_or_below=call.ctx.survey.followup_at_or_below)  # fmt: skip


@api.route("GET", "/api/tasks/{task_id}", roles=STAFF, summary="One follow-up task", tag="tasks", response=TaskOut)
async def get_task(call: ApiCall) -> TaskOut:
    """One task by id."""
    try:
        return task_out(await CsatStore(call.ctx.store).task(_task_id(call)))
    except TaskNotFound as exc:
        raise ApiError(404, f"{exc}; it may have been erased with its call") from exc


@api.route("PATCH", "/api/tasks/{task_id}", roles=STAFF, summary="Assign, close or reopen a follow-up task",
           tag="tasks", body=TaskChange, response=TaskOut)  # fmt: skip
async def change_task(call: ApiCall) -> TaskOut:
    """Assign the task, close it with a note, or reopen it; audited."""
    change: TaskChange = call.body
    task_id = _task_id(call)
    if change.assignee and change.assignee not in await _assignees(call):
        raise ApiError(400, f"{change.assignee!r} is not an admin or supervisor who can take the task; pick one of "
                            "the listed users")  # fmt: skip
    csat = CsatStore(call.ctx.store)
    try:
        before, after = await csat.update_task(task_id, by=call.user.username, assignee=change.assignee,
                                               close_note=change.close_note.strip() if change.close_note else None,
                                               reopen=change.reopen)  # fmt: skip
    except TaskNotFound as exc:
        raise ApiError(404, f"{exc}; reload the tasks page") from exc
    if change.assignee is not None and before.assignee != after.assignee:
        await call.audit("task.assign", str(task_id), call_id=after.call_id, assignee=after.assignee,
                         previous=before.assignee)  # fmt: skip
    if before.status != after.status:
        action = "task.close" if after.status == "closed" else "task.reopen"
        await call.audit(action, str(task_id), call_id=after.call_id, note=after.note if action == "task.close" else "")
        if call.ctx.live is not None:
            call.ctx.live.followups_open(await csat.open_tasks())
    return task_out(after)


def _number(uri: str) -> str:
    """'"Bob" <sip:+15551234@host>' -> '+15551234': the number a supervisor calls back."""
    inner = uri.split("<", 1)[-1].split(">", 1)[0]
    return inner.split(":", 1)[-1].split("@", 1)[0]


def _task_id(call: ApiCall) -> int:
    raw = call.params.get("task_id", "")
    if not raw.isdigit():
        raise ApiError(404, f"no follow-up task {raw!r}: task ids are numbers")
    return int(raw)


api.page("/tasks", "tasks.html", title="Follow-up tasks", roles=STAFF, route=list_tasks)
