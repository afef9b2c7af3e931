"""Orders a flow's lookup step reads: seeding and reading by order number."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ivr.storage.models import Order


def seed_orders(session: Session, records: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Insert the orders that are missing and return their numbers; rows already there are left alone.

    Safe at every start-up, also when two control processes share one PostgreSQL and seed at once
    (INSERT ... ON CONFLICT DO NOTHING), and an order edited since keeps its edits.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = datetime.now(UTC)
    added = []
    for number, record in records.items():
        key = str(number).strip()
        row = {"number": key, "status": str(record.get("status", "")), "record": json.dumps(dict(record)),
               "updated_at": now}
        stmt = insert(Order).values(row).on_conflict_do_nothing(index_elements=["number"]).returning(Order.number)
        if session.scalar(stmt) is not None:
            added.append(key)
    return added


def get_order(session: Session, number: str) -> dict[str, Any] | None:
    """The stored record of order `number`, or None if there is no such order."""
    record = session.scalar(select(Order.record).where(Order.number == number.strip()))
    if record is None:
        return None
    value = json.loads(record)
    return value if isinstance(value, dict) else None
