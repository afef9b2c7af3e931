"""Agent desktop - agents, skills and queues managed in the console; call notes and dispositions.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """acd_queues (queues managed in the console; agents already have their table) and call_dispositions."""
    op.create_table(
        "acd_queues",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("settings", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "call_dispositions",
        sa.Column("call_id", sa.String(255), sa.ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("disposition", sa.String(128), nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_call_dispositions_agent_id", "call_dispositions", ["agent_id"])


def downgrade() -> None:
    """Drop what upgrade() created."""
    op.drop_index("ix_call_dispositions_agent_id", table_name="call_dispositions")
    op.drop_table("call_dispositions")
    op.drop_table("acd_queues")
