"""QA review: scorecards, reviews, the random review sample, turn corrections, and each reply's latency.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """qa_scorecards, qa_reviews, qa_samples, turn_corrections, turns.reply_latency."""
    # Not a batch (table copy) on SQLite: the turns' full-text triggers must stay.
    op.add_column("turns", sa.Column("reply_latency", sa.Float, nullable=True))
    op.create_table(
        "qa_scorecards",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "qa_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(255), sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
        sa.Column("scorecard_id", sa.Integer, sa.ForeignKey("qa_scorecards.id"), nullable=False),
        sa.Column("scorecard_revision", sa.Integer, nullable=False),
        sa.Column("reviewer", sa.String(128), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("raw_score", sa.Float, nullable=True),
        sa.Column("failed", sa.Boolean, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=True),
        sa.Column("answers", sa.Text, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("call_id", "scorecard_id", "reviewer", name="uq_qa_reviews_call_card_reviewer"),
    )
    op.create_index("ix_qa_reviews_call_id", "qa_reviews", ["call_id"])
    op.create_index("ix_qa_reviews_scorecard_id", "qa_reviews", ["scorecard_id"])
    op.create_index("ix_qa_reviews_created_at", "qa_reviews", ["created_at"])
    op.create_table(
        "qa_samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "call_id", sa.String(255), sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, unique=True
        ),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("percent", sa.Float, nullable=False),
        sa.Column("scorecard_id", sa.Integer, sa.ForeignKey("qa_scorecards.id"), nullable=True),
        sa.Column("sampled_by", sa.String(128), nullable=False),
        sa.Column("sampled_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_qa_samples_day", "qa_samples", ["day"])
    op.create_table(
        "turn_corrections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "turn_uid", sa.String(32), sa.ForeignKey("turns.uid", ondelete="CASCADE"), nullable=False, unique=True
        ),
        sa.Column("call_id", sa.String(255), sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("misrecognized", sa.Boolean, nullable=False),
        sa.Column("said", sa.Text, nullable=False),
        sa.Column("intent", sa.String(128), nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("applied_flow", sa.String(128), nullable=False),
        sa.Column("applied_revision", sa.Integer, nullable=True),
        sa.Column("applied_by", sa.String(128), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_turn_corrections_call_id", "turn_corrections", ["call_id"])
    op.create_index("ix_turn_corrections_created_at", "turn_corrections", ["created_at"])


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_table("turn_corrections")
    op.drop_table("qa_samples")
    op.drop_table("qa_reviews")
    op.drop_table("qa_scorecards")
    op.execute("ALTER TABLE turns DROP COLUMN reply_latency")
