"""After-call survey scores and follow-up tasks.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """csat_surveys (one per surveyed call) and followup_tasks (low scores to call back)."""
    op.create_table(
        "csat_surveys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "call_id", sa.String(255), sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, unique=True
        ),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("flow_name", sa.String(128), nullable=False),
        sa.Column("score", sa.Integer, nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("offered_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_csat_surveys_agent_id", "csat_surveys", ["agent_id"])
    op.create_index("ix_csat_surveys_queue", "csat_surveys", ["queue"])
    op.create_index("ix_csat_surveys_offered_at", "csat_surveys", ["offered_at"])
    op.create_table(
        "followup_tasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(255), sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
        sa.Column("survey_id", sa.Integer, sa.ForeignKey("csat_surveys.id", ondelete="CASCADE"), nullable=True),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("caller", sa.String(255), nullable=False),
        sa.Column("score", sa.Integer, nullable=True),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(128), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("closed_by", sa.String(128), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_followup_tasks_call_id", "followup_tasks", ["call_id"])
    op.create_index("ix_followup_tasks_status", "followup_tasks", ["status"])
    op.create_index("ix_followup_tasks_created_at", "followup_tasks", ["created_at"])


def downgrade() -> None:
    """Drop what upgrade() created."""
    op.drop_table("followup_tasks")
    op.drop_table("csat_surveys")
