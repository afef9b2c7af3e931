"""Callbacks: the stored promise to call a caller back, its state and attempts (survives a restart)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.storage.errors import StorageError
from ivr.storage.models import Callback

if TYPE_CHECKING:
    from ivr.storage.store import CallStore

_FIELDS = ("state", "attempts", "last_result", "agent_id", "next_attempt_at", "closed_by")


@dataclass(frozen=True)
class CallbackRow:
    """One callback as stored."""

    id: str
    call_id: str
    queue: str
    number: str
    caller: str
    priority: int
    skills: tuple[str, ...]
    state: str
    attempts: int
    max_attempts: int
    last_result: str
    agent_id: str
    enqueued_at: datetime
    requested_at: datetime
    next_attempt_at: datetime | None
    updated_at: datetime
    closed_by: str


def _row(c: Callback) -> CallbackRow:
    return CallbackRow(c.id, c.call_id, c.queue, c.number, c.caller, c.priority, tuple(json.loads(c.skills or "[]")),
                       c.state, c.attempts, c.max_attempts, c.last_result, c.agent_id, c.enqueued_at, c.requested_at,
                       c.next_attempt_at, c.updated_at, c.closed_by)  # fmt: skip


def add_callback(session: Session, row: CallbackRow) -> None:
    """Store a new callback."""
    values = {k: v for k, v in row.__dict__.items() if k != "skills"}
    session.add(Callback(skills=json.dumps(list(row.skills)), **values))


def update_callback(session: Session, callback_id: str, **fields: Any) -> CallbackRow:
    """Change a callback's state, attempts, result, agent, next attempt or closer."""
    c = session.get(Callback, callback_id)
    if c is None:
        raise StorageError(f"no callback {callback_id!r}; list them with GET /api/callbacks")
    for key, value in fields.items():
        if key not in _FIELDS:
            raise StorageError(f"callback field {key!r} cannot be changed; use one of {_FIELDS}")
        setattr(c, key, value)
    c.updated_at = datetime.now(UTC)
    return _row(c)


def list_callbacks(session: Session, states: Sequence[str] = (), limit: int = 500) -> list[CallbackRow]:
    """Callbacks in `states` (all when empty), newest request first."""
    query = select(Callback).order_by(Callback.requested_at.desc()).limit(limit)
    if states:
        query = query.where(Callback.state.in_(list(states)))
    return [_row(c) for c in session.scalars(query)]


class CallbackStore:
    """Async door to the callbacks table; every call runs in the store's read threads."""

    def __init__(self, store: CallStore) -> None:
        self._store = store

    async def add(self, row: CallbackRow) -> None:
        """Store a new callback."""
        await self._store._session(add_callback, row, commit=True)

    async def update(self, callback_id: str, **fields: Any) -> CallbackRow:
        """Change a stored callback; returns it as it is now."""
        result: CallbackRow = await self._store._session(update_callback, callback_id, commit=True, **fields)
        return result

    async def rows(self, states: Sequence[str] = (), limit: int = 500) -> list[CallbackRow]:
        """Callbacks in `states` (all when empty), newest first."""
        result: list[CallbackRow] = await self._store._session(list_callbacks, tuple(states), limit)
        return result
