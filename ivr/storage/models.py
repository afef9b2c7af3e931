"""SQLAlchemy models: calls and what happened in them, flows, agents and users."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive UTC text)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Call(Base):
    """One inbound call from offer to hangup."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    caller: Mapped[str] = mapped_column(String(255), default="")
    callee: Mapped[str] = mapped_column(String(255), default="")
    node: Mapped[str] = mapped_column(String(64), default="", index=True)
    worker: Mapped[str] = mapped_column(String(64), default="")
    flow_name: Mapped[str] = mapped_column(String(128), default="")
    flow_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), default="ringing", index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    hangup_by: Mapped[str] = mapped_column(String(16), default="")
    end_reason: Mapped[str] = mapped_column(String(255), default="")
    sip_code: Mapped[int] = mapped_column(Integer, default=0)
    queue: Mapped[str] = mapped_column(String(128), default="")
    agent_id: Mapped[str] = mapped_column(String(128), default="")


class Turn(Base):
    """One utterance of the caller, the IVR or an agent, with offsets into the recording."""

    __tablename__ = "turns"
    __table_args__ = (Index("ix_turns_call_start", "call_id", "start_offset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    speaker: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)
    start_offset: Mapped[float | None] = mapped_column(Float)
    end_offset: Mapped[float | None] = mapped_column(Float)
    intent: Mapped[str] = mapped_column(String(128), default="")
    intent_score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Intent(Base):
    """What the flow understood from a caller turn."""

    __tablename__ = "intents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    turn_uid: Mapped[str | None] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(128), default="")
    name: Mapped[str] = mapped_column(String(128), index=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    source: Mapped[str] = mapped_column(String(16), default="speech")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Slot(Base):
    """One slot value extracted together with an intent."""

    __tablename__ = "slots"
    __table_args__ = (UniqueConstraint("intent_uid", "name", name="uq_slots_intent_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intent_uid: Mapped[str] = mapped_column(ForeignKey("intents.uid", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(Text)


class QueueEvent(Base):
    """An ACD fact: enqueued, offered, answered, abandoned, overflow, no_answer, agent_state, ..."""

    __tablename__ = "queue_events"
    __table_args__ = (Index("ix_queue_events_queue_at", "queue", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    call_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    queue: Mapped[str] = mapped_column(String(128), default="")
    kind: Mapped[str] = mapped_column(String(32))
    agent_id: Mapped[str] = mapped_column(String(128), default="", index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text, default="")


class Recording(Base):
    """A call recording on disk (both legs, one WAV or encrypted container)."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    call_id: Mapped[str] = mapped_column(String(255), index=True)
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    duration_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    channels: Mapped[int] = mapped_column(Integer, default=2)
    sample_rate: Mapped[int] = mapped_column(Integer, default=16000)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="complete")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # PCI pauses as a JSON list of [start, end] seconds into the file; NULL: not known (stored before 0003).
    pauses: Mapped[str | None] = mapped_column(Text)


class Flow(Base):
    """A named call flow; its content lives in versions."""

    __tablename__ = "flows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(16), default="flow")  # "flow" or "knowledge" (an FAQ base)
    # What new calls get: live_version, or candidate_version for candidate_share % of them (A/B).
    live_version: Mapped[int | None] = mapped_column(Integer)
    candidate_version: Mapped[int | None] = mapped_column(Integer)
    candidate_share: Mapped[int] = mapped_column(Integer, default=0)
    live_revision: Mapped[int] = mapped_column(Integer, default=0)  # +1 on every change: running servers poll it
    live_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    live_changed_by: Mapped[str] = mapped_column(String(128), default="")


class FlowDraft(Base):
    """The one shared unpublished draft of a flow; `revision` is its optimistic lock."""

    __tablename__ = "flow_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"), unique=True)
    source: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer)
    base_version: Mapped[int | None] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditEntry(Base):
    """Who did what in the console and when: logins, publishes, rollbacks, user changes, playback."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(255))
    detail: Mapped[str] = mapped_column(Text)  # JSON object
    address: Mapped[str] = mapped_column(String(64))


class FlowVersion(Base):
    """One published, immutable version of a flow (a running call keeps its version)."""

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("flow_id", "version", name="uq_flow_versions_flow_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(8), default="yaml")
    sha256: Mapped[str] = mapped_column(String(64))
    published_by: Mapped[str] = mapped_column(String(128), default="")
    published_at: Mapped[datetime] = mapped_column(UtcDateTime)
    origin: Mapped[str] = mapped_column(String(255), default="")  # "console", "cli", "file:<path>"
    note: Mapped[str] = mapped_column(Text, default="")


class Agent(Base):
    """A contact-centre agent, synced from `[[agents]]` in config.toml."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    sip_uri: Mapped[str] = mapped_column(String(255), default="")
    queues: Mapped[str] = mapped_column(Text, default="")
    skills: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class User(Base):
    """A console user (admin, supervisor, qa or agent)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    display_name: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(32), default="agent")
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Order(Base):
    """A customer order a flow's lookup step reads (the demo hotline's 'orders' source)."""

    __tablename__ = "orders"

    number: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), default="", index=True)
    # The whole record as a JSON object (status, dates, refund ...): what the flow gets as {order.*}.
    record: Mapped[str] = mapped_column(Text, default="{}")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
