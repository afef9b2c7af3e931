"""The customers area: admins and supervisors add, change and remove known customers; the lookup sees it at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from flows.customers import DEMO_CUSTOMERS
from ivr.core.config import CustomersConfig
from ivr.core.events import LookupRequest
from ivr.session.customers import customer_sources
from ivr.session.lookups import answer
from tests.console import Console, console_app


@pytest.fixture
async def console(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Console]:
    async for c in console_app(tmp_path, aiohttp_client):
        yield c


async def test_a_supervisor_adds_a_vip_and_the_next_call_from_that_number_is_known(console: Console) -> None:
    sources = await customer_sources(CustomersConfig(seed_demo=False), console.store.customers)
    lookup = LookupRequest("c1", request_id="r1", source="customers", key="sip:+4930123456@pbx")
    assert not (await answer(lookup, sources)).found
    sup = await console.client("supervisor")
    r = await sup.post("/api/customers", {"name": "Jo Berlin", "tier": "vip", "numbers": ["+49 30 123456"],
                                          "notes": "Speaks German"})  # fmt: skip
    assert r.status == 201, await r.text()
    jo = await r.json()
    assert (jo["tier"], jo["numbers"], jo["updated_by"]) == ("vip", ["+49 30 123456"], "supervisor")
    found = await answer(lookup, sources)
    assert found.found and '"name": "Jo Berlin"' in found.record and '"tier": "vip"' in found.record

    # The same number cannot belong to a second customer; the message says whose it is.
    dup = await sup.post("/api/customers", {"name": "Someone", "numbers": ["4930123456"]})
    assert dup.status == 400 and f"already belongs to customer {jo['id']}" in (await dup.json())["error"]
    assert (await sup.post("/api/customers", {"name": "No number", "numbers": []})).status == 400

    admin = await console.client("admin")
    change = {"name": "Jo Berlin", "tier": "standard", "numbers": ["+49 30 123456", "+49 171 555"]}
    r = await admin.send("PUT", f"/api/customers/{jo['id']}", change)
    assert r.status == 200 and (await r.json())["tier"] == "standard"
    assert (await admin.send("PUT", "/api/customers/nobody", {"name": "X", "numbers": ["1"]})).status == 404
    listed = await (await admin.get("/api/customers?q=171555")).json()
    assert [c["name"] for c in listed["customers"]] == ["Jo Berlin"] and "vip" in listed["tiers"]

    page = await admin.get("/customers?q=berlin")
    html = await page.text()
    assert page.status == 200 and f'data-customer="{jo["id"]}"' in html and "+49 171 555" in html
    assert 'href="/customers"' in html  # in the navigation

    assert (await admin.send("DELETE", f"/api/customers/{jo['id']}")).status == 200
    assert (await admin.send("DELETE", f"/api/customers/{jo['id']}")).status == 404
    assert not (await answer(lookup, sources)).found
    audit, _ = await console.store.console.list_audit(limit=20)
    assert [(a.action, a.actor) for a in audit if a.action.startswith("customer.")] == [
        ("customer.delete", "admin"), ("customer.change", "admin"), ("customer.create", "supervisor")]  # fmt: skip


async def test_qa_and_agents_cannot_see_or_change_customers(console: Console) -> None:
    await console.store.customers.seed(DEMO_CUSTOMERS)
    for role in ("qa", "agent"):
        c = await console.client(role)
        assert (await c.get("/api/customers")).status == 403
        assert (await c.get("/customers")).status == 403
        assert (await c.post("/api/customers", {"name": "X", "numbers": ["1"]})).status == 403
        assert (await c.send("DELETE", "/api/customers/C1001")).status == 403
    assert await console.store.customers.get("C1001") is not None
