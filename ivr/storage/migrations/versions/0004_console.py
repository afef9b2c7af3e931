"""The web console: what is live per flow (and its A/B candidate), drafts, the audit log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Live/candidate pointers on flows, origin and note on versions, flow_drafts, audit_log."""
    with op.batch_alter_table("flows") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="flow"))
        batch.add_column(sa.Column("live_version", sa.Integer, nullable=True))
        batch.add_column(sa.Column("candidate_version", sa.Integer, nullable=True))
        batch.add_column(sa.Column("candidate_share", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("live_revision", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("live_changed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("live_changed_by", sa.String(128), nullable=False, server_default=""))
    with op.batch_alter_table("flow_versions") as batch:
        batch.add_column(sa.Column("origin", sa.String(255), nullable=False, server_default=""))
        batch.add_column(sa.Column("note", sa.Text, nullable=False, server_default=""))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("last_login_at", sa.DateTime(), nullable=True))
    op.create_table(
        "flow_drafts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("flow_id", sa.Integer, sa.ForeignKey("flows.id", ondelete="CASCADE"), nullable=False, unique=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("base_version", sa.Integer, nullable=True),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_index("ix_audit_log_action", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("flow_drafts")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_login_at")
    with op.batch_alter_table("flow_versions") as batch:
        batch.drop_column("note")
        batch.drop_column("origin")
    with op.batch_alter_table("flows") as batch:
        for column in ("live_changed_by", "live_changed_at", "live_revision", "candidate_share",
                       "candidate_version", "live_version", "kind"):  # fmt: skip
            batch.drop_column(column)
