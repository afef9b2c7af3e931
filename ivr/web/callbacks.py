"""Callbacks in the console: the list (pending, completed, failed ...) and closing a failed one.

A callback that failed after its last attempt is an alert on the live floor until a supervisor closes it here,
once they have called the customer themselves (or given up).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from ivr.queues.callback import CALLBACK_STATES
from ivr.storage import StorageError
from ivr.storage.callbacks import CallbackRow, CallbackStore
from ivr.web.api import STAFF, Api, ApiCall, ApiError

api = Api()


class CallbackView(BaseModel):
    """One callback: who to call, its queue, its state and attempts, and the last attempt's result."""

    id: str
    call_id: str
    queue: str
    number: str
    state: str
    attempts: int
    max_attempts: int
    last_result: str
    agent_id: str
    requested_at: datetime
    next_attempt_at: datetime | None
    updated_at: datetime
    closed_by: str


class CallbackList(BaseModel):
    """Callbacks, newest request first."""

    callbacks: list[CallbackView]


class CallbackQuery(BaseModel):
    """`state`: only callbacks in this state (pending, dialing, completed, failed, closed); empty for all."""

    state: str = ""


def _view(row: CallbackRow) -> CallbackView:
    return CallbackView(id=row.id, call_id=row.call_id, queue=row.queue, number=row.number, state=row.state,
                        attempts=row.attempts, max_attempts=row.max_attempts, last_result=row.last_result,
                        agent_id=row.agent_id, requested_at=row.requested_at, next_attempt_at=row.next_attempt_at,
                        updated_at=row.updated_at, closed_by=row.closed_by)  # fmt: skip


@api.route("GET", "/api/callbacks", roles=STAFF, summary="List callbacks", tag="callbacks", query=CallbackQuery,
           response=CallbackList)  # fmt: skip
async def list_callbacks(call: ApiCall) -> CallbackList:
    """Callers who hung up to be called back, and how each callback went."""
    state = call.query.state
    if state and state not in CALLBACK_STATES:
        raise ApiError(400, f"unknown callback state {state!r}; use one of {', '.join(CALLBACK_STATES)}")
    rows = await CallbackStore(call.ctx.store).rows((state,) if state else ())
    return CallbackList(callbacks=[_view(r) for r in rows])


@api.route("POST", "/api/callbacks/{callback_id}/close", roles=STAFF, summary="Close a failed callback",
           tag="callbacks", response=CallbackView)  # fmt: skip
async def close_callback(call: ApiCall) -> CallbackView:
    """Mark a failed callback as handled; its live floor alert clears."""
    callback_id = call.params["callback_id"]
    store = CallbackStore(call.ctx.store)
    rows = {r.id: r for r in await store.rows(("failed",))}
    if callback_id not in rows:
        raise ApiError(404, f"no failed callback {callback_id!r}; only failed callbacks can be closed "
                            "(GET /api/callbacks?state=failed lists them)")  # fmt: skip
    try:
        row = await store.update(callback_id, state="closed", closed_by=call.user.username)
    except StorageError as exc:
        raise ApiError(404, str(exc)) from None
    if call.ctx.live is not None:
        call.ctx.live.callback_closed(callback_id)
    await call.audit("callback.close", callback_id, number=row.number)
    return _view(row)
