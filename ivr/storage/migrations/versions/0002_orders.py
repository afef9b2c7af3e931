"""Orders a flow's lookup step reads (the demo hotline's order store).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the orders table."""
    op.create_table(
        "orders",
        sa.Column("number", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_orders_status", "orders", ["status"])


def downgrade() -> None:
    """Drop the orders table."""
    op.drop_index("ix_orders_status", table_name="orders")
    op.drop_table("orders")
