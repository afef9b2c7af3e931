"""Flows and their versions, agents and users: the slow-changing rows beside the calls."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.core.config import AgentConfig
from ivr.storage.errors import StorageError
from ivr.storage.models import Agent, Flow, FlowVersion, User


@dataclass(frozen=True)
class FlowSource:
    """One published flow version as stored."""

    name: str
    version: int
    source: str
    format: str
    sha256: str
    published_by: str
    published_at: datetime


@dataclass(frozen=True)
class UserRow:
    """A console user."""

    id: int
    username: str
    display_name: str
    role: str
    password_hash: str
    disabled: bool


def publish_flow(session: Session, name: str, source: str, *, format: str = "yaml", published_by: str = "") -> int:
    """Store `source` as the next version of flow `name` (unchanged source keeps the version)."""
    digest = hashlib.sha256(source.encode()).hexdigest()
    now = datetime.now(UTC)
    flow = session.scalar(select(Flow).where(Flow.name == name).with_for_update())
    if flow is None:
        flow = Flow(name=name, created_at=now)
        session.add(flow)
        session.flush()
    latest = session.scalar(
        select(FlowVersion).where(FlowVersion.flow_id == flow.id).order_by(FlowVersion.version.desc()).limit(1)
    )
    if latest is not None and latest.sha256 == digest:
        return latest.version
    version = (latest.version if latest else 0) + 1
    session.add(
        FlowVersion(
            flow_id=flow.id,
            version=version,
            source=source,
            format=format,
            sha256=digest,
            published_by=published_by,
            published_at=now,
        )
    )
    return version


def flow_version(session: Session, name: str, version: int | None = None) -> FlowSource | None:
    """A given version of a flow, or its latest when `version` is None."""
    q = select(FlowVersion).join(Flow, Flow.id == FlowVersion.flow_id).where(Flow.name == name)
    q = q.where(FlowVersion.version == version) if version is not None else q
    row = session.scalar(q.order_by(FlowVersion.version.desc()).limit(1))
    if row is None:
        return None
    return FlowSource(name, row.version, row.source, row.format, row.sha256, row.published_by, row.published_at)


def flow_names(session: Session) -> dict[str, int]:
    """Every flow with its latest version number."""
    q = select(Flow.name, func.max(FlowVersion.version)).join(FlowVersion).group_by(Flow.name)
    return {name: int(v) for name, v in session.execute(q)}


def sync_agents(session: Session, agents: Sequence[AgentConfig]) -> None:
    """Make the agents table match `[[agents]]`; agents no longer configured become inactive."""
    now = datetime.now(UTC)
    seen = set()
    for a in agents:
        if not a.id:
            raise StorageError("an [[agents]] entry has no id; give every agent a unique id")
        seen.add(a.id)
        row = session.get(Agent, a.id) or Agent(id=a.id)
        row.name, row.sip_uri = a.name, a.sip_uri
        row.queues, row.skills = ",".join(a.queues), ",".join(a.skills)
        row.active, row.updated_at = True, now
        session.add(row)
    for row in session.scalars(select(Agent).where(Agent.active.is_(True))):
        if row.id not in seen:
            row.active, row.updated_at = False, now


def active_agents(session: Session) -> list[AgentConfig]:
    """Agents currently configured, as config models."""
    rows = session.scalars(select(Agent).where(Agent.active.is_(True)).order_by(Agent.id))
    return [
        AgentConfig(id=r.id, name=r.name, sip_uri=r.sip_uri, queues=_split(r.queues), skills=_split(r.skills))
        for r in rows
    ]


def add_user(
    session: Session, username: str, *, role: str = "agent", display_name: str = "", password_hash: str = ""
) -> int:
    """Create a console user; returns its id."""
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise StorageError(f"user {username!r} already exists; pick another username")
    user = User(
        username=username,
        role=role,
        display_name=display_name,
        password_hash=password_hash,
        disabled=False,
        created_at=datetime.now(UTC),
    )
    session.add(user)
    session.flush()
    return user.id


def get_user(session: Session, username: str) -> UserRow | None:
    """A user by name."""
    u = session.scalar(select(User).where(User.username == username))
    if u is None:
        return None
    return UserRow(u.id, u.username, u.display_name, u.role, u.password_hash, u.disabled)


def _split(text: str) -> tuple[str, ...]:
    return tuple(x for x in text.split(",") if x)
