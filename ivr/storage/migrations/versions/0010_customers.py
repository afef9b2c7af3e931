"""Known customers (caller lookup by number).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the customers table and their phone numbers."""
    op.create_table(
        "customers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_customers_tier", "customers", ["tier"])
    op.create_table(
        "customer_numbers",
        sa.Column("number", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(64), sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("shown", sa.String(64), nullable=False),
    )
    op.create_index("ix_customer_numbers_customer_id", "customer_numbers", ["customer_id"])


def downgrade() -> None:
    """Drop the customers and their numbers."""
    op.drop_index("ix_customer_numbers_customer_id", table_name="customer_numbers")
    op.drop_table("customer_numbers")
    op.drop_index("ix_customers_tier", table_name="customers")
    op.drop_table("customers")
