"""Admins and supervisors manage the known customers a flow's `customers` lookup finds by caller ID."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ivr.core.errors import IvrError
from ivr.web.api import Api, ApiCall, ApiError

api = Api()
MANAGERS = frozenset({"admin", "supervisor"})
# Offered in the form; any other word works too (flows route on what they test, e.g. customer.tier == "vip").
TIERS = ("standard", "vip")


class CustomerOut(BaseModel):
    """A known customer: what the flow gets and the agent's screen shows."""

    id: str
    name: str
    tier: str
    notes: str
    numbers: list[str]
    updated_by: str
    updated_at: datetime


class CustomerList(BaseModel):
    """Customers by name (those matching the search), and the tiers the form offers."""

    customers: list[CustomerOut]
    tiers: list[str]
    query: str


class CustomerQuery(BaseModel):
    """Search by name, id, tier or part of a number."""

    q: str = Field(default="", max_length=200)
    limit: int = Field(default=200, ge=1, le=1000)


class CustomerIn(BaseModel):
    """A customer to create or replace; a number may belong to one customer only."""

    id: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")
    name: str = Field(min_length=1, max_length=200)
    tier: str = Field(default="standard", max_length=32, pattern=r"^[A-Za-z0-9_-]*$")
    notes: str = Field(default="", max_length=2000)
    numbers: list[str] = Field(min_length=1, max_length=20)


class Deleted(BaseModel):
    """The customer that was removed."""

    id: str


def _out(c: dict[str, Any]) -> CustomerOut:
    return CustomerOut(**{k: c[k] for k in CustomerOut.model_fields})


@api.route("GET", "/api/customers", roles=MANAGERS, summary="List known customers", tag="customers",
           query=CustomerQuery, response=CustomerList)  # fmt: skip
async def list_customers(call: ApiCall) -> CustomerList:
    """Customers by name, or those matching `q` (name, id, tier or part of a number)."""
    q: CustomerQuery = call.query
    found = await call.ctx.store.customers.search(q.q, q.limit)
    return CustomerList(customers=[_out(c) for c in found], tiers=list(TIERS), query=q.q)


async def _save(call: ApiCall, customer_id: str) -> CustomerOut:
    body: CustomerIn = call.body
    try:
        saved = await call.ctx.store.customers.save(customer_id, name=body.name, tier=body.tier, notes=body.notes,
                                                    numbers=body.numbers, by=call.user.username)  # fmt: skip
    except IvrError as exc:
        raise ApiError(400, str(exc)) from None
    return _out(saved)


@api.route("POST", "/api/customers", roles=MANAGERS, summary="Add a customer", tag="customers", body=CustomerIn,
           response=CustomerOut, status=201)  # fmt: skip
async def create_customer(call: ApiCall) -> CustomerOut:
    """Add a customer with their numbers (an id is made when none is given)."""
    body: CustomerIn = call.body
    if body.id and await call.ctx.store.customers.get(body.id) is not None:
        raise ApiError(400, f"customer {body.id} exists already; change it instead, or leave the id empty")
    out = await _save(call, body.id)
    await call.audit("customer.create", out.id, tier=out.tier, numbers=len(out.numbers))
    return out


@api.route("PUT", "/api/customers/{customer_id}", roles=MANAGERS, summary="Change a customer", tag="customers",
           body=CustomerIn, response=CustomerOut)  # fmt: skip
async def change_customer(call: ApiCall) -> CustomerOut:
    """Replace a customer's name, tier, notes and numbers."""
    customer_id = call.params["customer_id"]
    if await call.ctx.store.customers.get(customer_id) is None:
        raise ApiError(404, f"no customer {customer_id!r}")
    out = await _save(call, customer_id)
    await call.audit("customer.change", out.id, tier=out.tier, numbers=len(out.numbers))
    return out


@api.route("DELETE", "/api/customers/{customer_id}", roles=MANAGERS, summary="Remove a customer", tag="customers",
           response=Deleted)  # fmt: skip
async def delete_customer(call: ApiCall) -> Deleted:
    """Remove a customer and their numbers: their calls are no longer recognized."""
    customer_id = call.params["customer_id"]
    if not await call.ctx.store.customers.delete(customer_id):
        raise ApiError(404, f"no customer {customer_id!r}")
    await call.audit("customer.delete", customer_id)
    return Deleted(id=customer_id)


api.page("/customers", "customers.html", title="Customers", roles=MANAGERS, route=list_customers)
