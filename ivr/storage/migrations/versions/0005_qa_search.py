"""QA search: a call's outcome and duration as generated columns, indexes for the search filters, retention settings.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The outcome a reviewer filters by, from what the call path already writes (status, queue, agent):
# a completed call that never reached a queue was contained by the bot; one an agent took was transferred.
OUTCOME_SQL = (
    "CASE WHEN status = 'completed' AND queue = '' AND agent_id = '' THEN 'contained' "
    "WHEN status = 'transferred' OR (status = 'completed' AND (queue <> '' OR agent_id <> '')) THEN 'transferred' "
    "ELSE status END"
)
_DURATION_SQL = {
    "sqlite": "ROUND((julianday(ended_at) - julianday(started_at)) * 86400.0, 3)",  # julianday is good to ~40 µs
    "postgresql": "CAST(EXTRACT(EPOCH FROM (ended_at - started_at)) AS DOUBLE PRECISION)",
}
_INDEXES = (
    ("ix_calls_outcome_started", "calls", ["outcome", "started_at"]),
    ("ix_calls_duration", "calls", ["duration_seconds"]),
    ("ix_calls_queue_started", "calls", ["queue", "started_at"]),
    ("ix_calls_agent_started", "calls", ["agent_id", "started_at"]),
    ("ix_calls_flow_started", "calls", ["flow_name", "flow_version", "started_at"]),
    ("ix_calls_caller", "calls", ["caller"]),
    ("ix_intents_name_call", "intents", ["name", "call_id"]),
    ("ix_slots_intent_uid", "slots", ["intent_uid"]),
    ("ix_turns_created_at", "turns", ["created_at"]),
)


def upgrade() -> None:
    """Generated calls.outcome and calls.duration_seconds, search indexes, retention_settings."""
    dialect = op.get_bind().dialect.name
    # Generated, so no writer has to keep them right: SQLite can only add VIRTUAL ones (indexable all the same).
    kind = "STORED" if dialect == "postgresql" else "VIRTUAL"
    duration = _DURATION_SQL["postgresql" if dialect == "postgresql" else "sqlite"]
    op.execute(f"ALTER TABLE calls ADD COLUMN outcome VARCHAR(32) GENERATED ALWAYS AS ({OUTCOME_SQL}) {kind}")
    op.execute(f"ALTER TABLE calls ADD COLUMN duration_seconds FLOAT GENERATED ALWAYS AS ({duration}) {kind}")
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)
    op.create_table(
        "retention_settings",
        sa.Column("kind", sa.String(32), primary_key=True),  # audio, transcripts, slots
        sa.Column("days", sa.Integer, nullable=True),  # NULL: keep forever
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_table("retention_settings")
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
    op.execute("ALTER TABLE calls DROP COLUMN duration_seconds")
    op.execute("ALTER TABLE calls DROP COLUMN outcome")
