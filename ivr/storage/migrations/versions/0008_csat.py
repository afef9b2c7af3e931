"""After-call survey scores and follow-up tasks.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Tables of this feature (filled in by the feature's change)."""


def downgrade() -> None:
    """Drop what upgrade() created."""
