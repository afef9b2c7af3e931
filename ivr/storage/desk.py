"""The agent desk's tables: agents and queues managed in the console (seeded from config), and call dispositions."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.core.config import AgentConfig, QueueConfig
from ivr.storage.errors import StorageError
from ivr.storage.models import AcdQueue, Agent, Call, CallDisposition, User

if TYPE_CHECKING:
    from ivr.storage.store import CallStore

_QUEUE_FIELDS = {f.name for f in dataclasses.fields(QueueConfig)} - {"name"}


@dataclass(frozen=True)
class AgentRow:
    """An agent as the console manages it: its ACD settings and the console user who works as it."""

    config: AgentConfig
    user: str = ""  # the linked console user's name ('' : the user named like the agent id, if any)


@dataclass(frozen=True)
class DispositionRow:
    """What the agent wrote when the call ended."""

    call_id: str
    agent_id: str
    disposition: str
    notes: str
    by: str
    updated_at: datetime


def _split(text: str) -> tuple[str, ...]:
    return tuple(x for x in text.split(",") if x)


def _queue_of(row: AcdQueue) -> QueueConfig:
    settings = {k: v for k, v in json.loads(row.settings or "{}").items() if k in _QUEUE_FIELDS}
    return QueueConfig(name=row.name, **settings)


def seed_roster(session: Session, agents: Sequence[AgentConfig], queues: Sequence[QueueConfig]) -> list[str]:
    """Add the configured agents and queues the database does not know yet (ids and names it never had)."""
    now, added = datetime.now(UTC), []
    for q in queues:
        if session.get(AcdQueue, q.name) is None:
            session.add(AcdQueue(name=q.name, settings=_settings(q), active=True, updated_by="config", updated_at=now))
            added.append(f"queue {q.name}")
    for a in agents:
        if not a.id:
            raise StorageError("an [[agents]] entry has no id; give every agent a unique id")
        if session.get(Agent, a.id) is None:
            session.add(Agent(id=a.id, name=a.name, sip_uri=a.sip_uri, queues=",".join(a.queues),
                              skills=",".join(a.skills), active=True, updated_at=now))  # fmt: skip
            added.append(f"agent {a.id}")
    return added


def roster(session: Session) -> tuple[list[QueueConfig], list[AgentRow]]:
    """The active queues (by name) and agents (by id)."""
    queues = [_queue_of(r) for r in session.scalars(select(AcdQueue).where(AcdQueue.active.is_(True))
                                                    .order_by(AcdQueue.name))]  # fmt: skip
    rows = session.execute(select(Agent, User.username).outerjoin(User, User.id == Agent.user_id)
                           .where(Agent.active.is_(True)).order_by(Agent.id))  # fmt: skip
    agents = [AgentRow(AgentConfig(id=a.id, name=a.name, sip_uri=a.sip_uri, queues=_split(a.queues),
                                   skills=_split(a.skills)), username or "") for a, username in rows]  # fmt: skip
    return queues, agents


def save_agent(session: Session, agent: AgentConfig, *, user: str) -> None:
    """Create or replace an agent; `user` links a console user by name ('' : none)."""
    user_id = None
    if user:
        user_id = session.scalar(select(User.id).where(User.username == user))
        if user_id is None:
            raise StorageError(f"there is no console user {user!r}; create it under Users first, or leave it empty")
    row = session.get(Agent, agent.id) or Agent(id=agent.id)
    row.name, row.sip_uri = agent.name, agent.sip_uri
    row.queues, row.skills = ",".join(agent.queues), ",".join(agent.skills)
    row.user_id, row.active, row.updated_at = user_id, True, datetime.now(UTC)
    session.add(row)


def remove_agent(session: Session, agent_id: str) -> bool:
    """Retire an agent (its row stays for the calls it took, and config will not bring it back); False if unknown."""
    row = session.get(Agent, agent_id)
    if row is None or not row.active:
        return False
    row.active, row.updated_at = False, datetime.now(UTC)
    return True


def save_queue(session: Session, queue: QueueConfig, *, by: str) -> None:
    """Create or replace a queue's settings."""
    row = session.get(AcdQueue, queue.name) or AcdQueue(name=queue.name)
    row.settings, row.active, row.updated_by, row.updated_at = _settings(queue), True, by, datetime.now(UTC)
    session.add(row)


def remove_queue(session: Session, name: str, *, by: str) -> bool:
    """Retire a queue; False if unknown."""
    row = session.get(AcdQueue, name)
    if row is None or not row.active:
        return False
    row.active, row.updated_by, row.updated_at = False, by, datetime.now(UTC)
    return True


def _settings(q: QueueConfig) -> str:
    return json.dumps({k: v for k, v in dataclasses.asdict(q).items() if k in _QUEUE_FIELDS}, sort_keys=True)


def call_agent(session: Session, call_id: str) -> str | None:
    """The agent a stored call went to ('' : none), None if the call is not stored."""
    found: str | None = session.scalar(select(Call.agent_id).where(Call.id == call_id))
    return found


def save_disposition(session: Session, call_id: str, *, agent_id: str, disposition: str, notes: str,
                     by: str) -> DispositionRow:  # fmt: skip
    """Store (or replace) the agent's disposition and notes for a call."""
    if session.get(Call, call_id) is None:
        raise StorageError(f"call {call_id} is not stored yet; try again in a moment")
    now = datetime.now(UTC)
    row = session.get(CallDisposition, call_id) or CallDisposition(call_id=call_id, created_at=now)
    row.agent_id, row.disposition, row.notes, row.by, row.updated_at = agent_id, disposition, notes, by, now
    session.add(row)
    return DispositionRow(call_id, agent_id, disposition, notes, by, now)


def disposition(session: Session, call_id: str) -> DispositionRow | None:
    """The call's disposition and notes, if the agent wrote them."""
    r = session.get(CallDisposition, call_id)
    return None if r is None else DispositionRow(r.call_id, r.agent_id, r.disposition, r.notes, r.by, r.updated_at)


class DeskStore:
    """Async door to the desk's tables; every call runs in the store's read threads (and commits when it writes)."""

    def __init__(self, store: CallStore) -> None:
        self._store = store

    async def _do(self, fn: Any, *args: Any, commit: bool = False, **kwargs: Any) -> Any:
        return await self._store._session(fn, *args, commit=commit, **kwargs)

    async def seed(self, agents: Sequence[AgentConfig], queues: Sequence[QueueConfig]) -> list[str]:
        """Add configured agents and queues the database lacks; returns what was added."""
        return list(await self._do(seed_roster, agents, queues, commit=True))

    async def roster(self) -> tuple[list[QueueConfig], list[AgentRow]]:
        """Active queues and agents."""
        result: tuple[list[QueueConfig], list[AgentRow]] = await self._do(roster)
        return result

    async def save_agent(self, agent: AgentConfig, *, user: str) -> None:
        """Create or replace an agent."""
        await self._do(save_agent, agent, user=user, commit=True)

    async def remove_agent(self, agent_id: str) -> bool:
        """Retire an agent."""
        return bool(await self._do(remove_agent, agent_id, commit=True))

    async def save_queue(self, queue: QueueConfig, *, by: str) -> None:
        """Create or replace a queue."""
        await self._do(save_queue, queue, by=by, commit=True)

    async def remove_queue(self, name: str, *, by: str) -> bool:
        """Retire a queue."""
        return bool(await self._do(remove_queue, name, by=by, commit=True))

    async def call_agent(self, call_id: str) -> str | None:
        """The agent a stored call went to."""
        result: str | None = await self._do(call_agent, call_id)
        return result

    async def save_disposition(self, call_id: str, **fields: Any) -> DispositionRow:
        """Store the disposition and notes (agent_id, disposition, notes, by)."""
        result: DispositionRow = await self._do(save_disposition, call_id, commit=True, **fields)
        return result

    async def disposition(self, call_id: str) -> DispositionRow | None:
        """The call's disposition, if any."""
        result: DispositionRow | None = await self._do(disposition, call_id)
        return result
