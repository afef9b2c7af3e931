"""Alembic environment: runs on the connection `migrate()` hands over (no alembic.ini)."""

from __future__ import annotations

from alembic import context

from ivr.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable from the alembic CLI
    raise SystemExit("run migrations through ivr.storage.migrate(url)")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
