"""Agent desktop - agents, skills and queues managed in the console; call notes and dispositions.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Tables of this feature (filled in by the feature's change)."""


def downgrade() -> None:
    """Drop what upgrade() created."""
