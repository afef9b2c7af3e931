"""Known customers: found by a caller's number for a flow's lookup, and managed in the console.

Numbers are stored in their normal form (`ivr.core.phone.number_key`) as the key, with the spelling that was
entered beside it for people. A number belongs to at most one customer.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, false, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ivr.core.phone import number_key
from ivr.storage.errors import StorageError
from ivr.storage.models import Customer, CustomerNumber

if TYPE_CHECKING:
    from ivr.storage.store import CallStore


class CustomerError(StorageError):
    """A customer cannot be saved as given (a number another customer has, no name); the message says why."""


def _record(c: Customer, numbers: Iterable[CustomerNumber], matched: str = "") -> dict[str, Any]:
    """What a lookup step gets (flows.customers.customer_record has the same shape)."""
    return {"id": c.id, "name": c.name, "tier": c.tier, "notes": c.notes,
            "numbers": [n.shown for n in sorted(numbers, key=lambda n: n.shown)], "number": matched,
            "updated_by": c.updated_by, "updated_at": c.updated_at.isoformat()}  # fmt: skip


def _numbers_of(session: Session, ids: list[str]) -> dict[str, list[CustomerNumber]]:
    found: dict[str, list[CustomerNumber]] = {i: [] for i in ids}
    for n in session.scalars(select(CustomerNumber).where(CustomerNumber.customer_id.in_(ids))):
        found[n.customer_id].append(n)
    return found


def find_by_number(session: Session, number: str) -> dict[str, Any] | None:
    """The customer who owns `number` (any spelling), or None."""
    key = number_key(number)
    if not key:
        return None
    row = session.execute(
        select(Customer).join(CustomerNumber, CustomerNumber.customer_id == Customer.id).where(
            CustomerNumber.number == key)
    ).scalar_one_or_none()
    return None if row is None else _record(row, _numbers_of(session, [row.id])[row.id], key)


def list_customers(session: Session, query: str = "", limit: int = 200) -> list[dict[str, Any]]:
    """Customers by name, those matching `query` (name, id, tier or number) when given."""
    stmt = select(Customer).order_by(Customer.name, Customer.id).limit(limit)
    if query.strip():
        like = f"%{query.strip().lower()}%"
        by_number = select(CustomerNumber.customer_id).where(CustomerNumber.number.like(f"%{number_key(query)}%"))
        stmt = stmt.where(or_(func.lower(Customer.name).like(like), func.lower(Customer.id).like(like),
                              func.lower(Customer.tier) == query.strip().lower(),
                              Customer.id.in_(by_number) if number_key(query) else false()))  # fmt: skip
    rows = list(session.scalars(stmt))
    numbers = _numbers_of(session, [c.id for c in rows])
    return [_record(c, numbers[c.id]) for c in rows]


def get_customer(session: Session, customer_id: str) -> dict[str, Any] | None:
    """One customer by id, or None."""
    c = session.get(Customer, customer_id)
    return None if c is None else _record(c, _numbers_of(session, [c.id])[c.id])


def save_customer(
    session: Session, customer_id: str, *, name: str, tier: str, notes: str, numbers: Iterable[str], by: str
) -> dict[str, Any]:
    """Create (empty id: a new one is made) or replace a customer and their numbers."""
    name, tier = name.strip(), (tier.strip().lower() or "standard")
    if not name:
        raise CustomerError("a customer needs a name")
    wanted: dict[str, str] = {}
    for shown in numbers:
        key = number_key(shown)
        if key:
            wanted.setdefault(key, shown.strip())
    if not wanted:
        raise CustomerError("a customer needs at least one phone number, e.g. +1 555 0100")
    customer_id = customer_id.strip() or f"C{secrets.token_hex(4).upper()}"
    taken = session.execute(select(CustomerNumber.number, CustomerNumber.customer_id).where(
        CustomerNumber.number.in_(list(wanted)), CustomerNumber.customer_id != customer_id)).first()  # fmt: skip
    if taken is not None:
        raise CustomerError(f"number {wanted[taken[0]]} already belongs to customer {taken[1]}; "
                            "remove it there first")  # fmt: skip
    c = session.get(Customer, customer_id)
    if c is None:
        c = Customer(id=customer_id)
        session.add(c)
    c.name, c.tier, c.notes, c.updated_by, c.updated_at = name, tier, notes.strip(), by, datetime.now(UTC)
    session.flush()
    session.execute(delete(CustomerNumber).where(CustomerNumber.customer_id == customer_id))
    session.add_all(CustomerNumber(number=k, customer_id=customer_id, shown=v) for k, v in wanted.items())
    session.flush()
    found = get_customer(session, customer_id)
    assert found is not None
    return found


def delete_customer(session: Session, customer_id: str) -> bool:
    """Remove a customer and their numbers; False if there was none."""
    session.execute(delete(CustomerNumber).where(CustomerNumber.customer_id == customer_id))
    return bool(session.execute(delete(Customer).where(Customer.id == customer_id)).rowcount)  # type: ignore[attr-defined]


def seed_customers(session: Session, customers: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Insert the customers that are missing (and their free numbers); rows already there keep their edits.

    Safe when two control processes share one PostgreSQL and seed at once (INSERT ... ON CONFLICT DO NOTHING).
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = datetime.now(UTC)
    added = []
    for cid, fields in customers.items():
        row = {"id": cid, "name": str(fields.get("name", "")), "tier": str(fields.get("tier") or "standard"),
               "notes": str(fields.get("notes", "")), "updated_by": "seed", "updated_at": now}  # fmt: skip
        stmt = insert(Customer).values(row).on_conflict_do_nothing(index_elements=["id"]).returning(Customer.id)
        if session.scalar(stmt) is None:
            continue
        added.append(cid)
        for shown in fields.get("numbers") or ():
            session.execute(insert(CustomerNumber).values(number=number_key(str(shown)), customer_id=cid,
                                                          shown=str(shown)).on_conflict_do_nothing())  # fmt: skip
    return added


class CustomerStore:
    """Async door to the customers tables; every call runs in the store's read threads, never on the loop."""

    def __init__(self, store: CallStore) -> None:
        self._store = store

    async def _do(self, fn: Any, *args: Any, commit: bool = False, **kwargs: Any) -> Any:
        try:
            return await self._store._session(fn, *args, commit=commit, **kwargs)
        except DBAPIError as exc:
            where = self._store._engine.url.render_as_string(hide_password=True)
            raise StorageError(f"cannot read customers from the database at {where}: {exc.orig}; "
                               "check that the server runs and [storage] url is right") from exc  # fmt: skip

    async def find(self, number: str) -> dict[str, Any] | None:
        """The customer who owns `number`, None if nobody does; StorageError when the database cannot answer."""
        result: dict[str, Any] | None = await self._do(find_by_number, number)
        return result

    async def search(self, query: str = "", limit: int = 200) -> list[dict[str, Any]]:
        """Customers by name (matching `query` when given)."""
        result: list[dict[str, Any]] = await self._do(list_customers, query, limit)
        return result

    async def get(self, customer_id: str) -> dict[str, Any] | None:
        """One customer, or None."""
        result: dict[str, Any] | None = await self._do(get_customer, customer_id)
        return result

    async def save(self, customer_id: str = "", **fields: Any) -> dict[str, Any]:
        """Create or replace a customer (name, tier, notes, numbers, by); CustomerError says what to fix."""
        result: dict[str, Any] = await self._do(save_customer, customer_id, commit=True, **fields)
        return result

    async def delete(self, customer_id: str) -> bool:
        """Remove a customer; False if there was none."""
        result: bool = await self._do(delete_customer, customer_id, commit=True)
        return result

    async def seed(self, customers: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Insert the customers of `customers` that are missing; returns the ids added."""
        result: list[str] = await self._do(seed_customers, customers, commit=True)
        return result
