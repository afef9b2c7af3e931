"""PCI pauses of a recording in the recordings table (until now only in its sidecar).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add recordings.pauses: a JSON list of [start, end] seconds, NULL for rows stored before it existed."""
    op.add_column("recordings", sa.Column("pauses", sa.Text, nullable=True))


def downgrade() -> None:
    """Drop recordings.pauses (batch mode: SQLite before 3.35 cannot drop a column in place)."""
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("pauses")
