"""Initial schema: calls, turns (+ full-text search), intents, slots, queue events, recordings,
flows, flow versions, agents and users.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE turns_fts USING fts5(text, content='turns', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER turns_fts_ai AFTER INSERT ON turns BEGIN "
    "INSERT INTO turns_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER turns_fts_ad AFTER DELETE ON turns BEGIN "
    "INSERT INTO turns_fts(turns_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER turns_fts_au AFTER UPDATE OF text ON turns BEGIN "
    "INSERT INTO turns_fts(turns_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO turns_fts(rowid, text) VALUES (new.id, new.text); END",
)
_PG_FTS = (
    "ALTER TABLE turns ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', coalesce(text, ''))) STORED",
    "CREATE INDEX ix_turns_tsv ON turns USING gin (tsv)",
)


def _when() -> sa.DateTime:
    return sa.DateTime()


def upgrade() -> None:
    """Create every table and the dialect's full-text index on turns.text."""
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(128), nullable=False, unique=True),
        sa.Column("display_name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", _when(), nullable=False),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sip_uri", sa.String(255), nullable=False),
        sa.Column("queues", sa.Text, nullable=False),
        sa.Column("skills", sa.Text, nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
    )
    op.create_table(
        "flows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("created_at", _when(), nullable=False),
    )
    op.create_table(
        "flow_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("flow_id", sa.Integer, sa.ForeignKey("flows.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("published_by", sa.String(128), nullable=False),
        sa.Column("published_at", _when(), nullable=False),
        sa.UniqueConstraint("flow_id", "version", name="uq_flow_versions_flow_version"),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("caller", sa.String(255), nullable=False),
        sa.Column("callee", sa.String(255), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("flow_name", sa.String(128), nullable=False),
        sa.Column("flow_version", sa.Integer),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started_at", _when(), nullable=False),
        sa.Column("answered_at", _when()),
        sa.Column("ended_at", _when()),
        sa.Column("hangup_by", sa.String(16), nullable=False),
        sa.Column("end_reason", sa.String(255), nullable=False),
        sa.Column("sip_code", sa.Integer, nullable=False),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
    )
    op.create_index("ix_calls_node", "calls", ["node"])
    op.create_index("ix_calls_status", "calls", ["status"])
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.create_table(
        "turns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(32), nullable=False, unique=True),
        sa.Column("call_id", sa.String(255), sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
        sa.Column("speaker", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("confidence", sa.Float),
        sa.Column("start_offset", sa.Float),
        sa.Column("end_offset", sa.Float),
        sa.Column("intent", sa.String(128), nullable=False),
        sa.Column("intent_score", sa.Float),
        sa.Column("created_at", _when(), nullable=False),
    )
    op.create_index("ix_turns_call_start", "turns", ["call_id", "start_offset"])
    op.create_table(
        "intents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(32), nullable=False, unique=True),
        sa.Column("call_id", sa.String(255), sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
        sa.Column("turn_uid", sa.String(32)),
        sa.Column("step", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
    )
    op.create_index("ix_intents_call_id", "intents", ["call_id"])
    op.create_index("ix_intents_name", "intents", ["name"])
    op.create_table(
        "slots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("intent_uid", sa.String(32), sa.ForeignKey("intents.uid", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.UniqueConstraint("intent_uid", "name", name="uq_slots_intent_name"),
    )
    op.create_table(
        "queue_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(32), nullable=False, unique=True),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("at", _when(), nullable=False),
        sa.Column("wait_seconds", sa.Float),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_queue_events_call_id", "queue_events", ["call_id"])
    op.create_index("ix_queue_events_agent_id", "queue_events", ["agent_id"])
    op.create_index("ix_queue_events_at", "queue_events", ["at"])
    op.create_index("ix_queue_events_queue_at", "queue_events", ["queue", "at"])
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(32), nullable=False, unique=True),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False, unique=True),
        sa.Column("duration_seconds", sa.Float, nullable=False),
        sa.Column("channels", sa.Integer, nullable=False),
        sa.Column("sample_rate", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("encrypted", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("purged_at", _when()),
    )
    op.create_index("ix_recordings_call_id", "recordings", ["call_id"])
    for statement in _SQLITE_FTS if op.get_bind().dialect.name == "sqlite" else _PG_FTS:
        op.execute(statement)


def downgrade() -> None:
    """Drop everything this revision created."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS turns_fts")
    for table in (
        "recordings",
        "queue_events",
        "slots",
        "intents",
        "turns",
        "calls",
        "flow_versions",
        "flows",
        "agents",
        "users",
    ):
        op.drop_table(table)
