"""Known customers: the customers table (real SQLite and PostgreSQL), an HTTP endpoint (a real server), and calls.

A caller found by number is welcomed and, as a VIP, queued first; a customer source that is down, slow or answers
garbage sends the flow to its on_error branch and the caller is served as anyone else.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp import web

from flows import FlowRunner, load_flow
from flows.customers import DEMO_CUSTOMERS
from ivr.core.config import CustomersConfig
from ivr.core.errors import ConfigError
from ivr.core.events import DtmfDigit, LookupRequest
from ivr.session.customers import customer_headers, customer_sources
from ivr.session.flow_call import FlowCall
from ivr.session.lookups import LookupSource, answer
from ivr.session.services import CallServices
from ivr.storage import CallStore
from ivr.storage.customers import CustomerError
from ivr.storage.pg_server import TemporaryPostgres
from tests import pg
from tests.test_flow_call_transfer import Leg
from tests.test_lookups import Queue, Voice

db_url = pg.db_url
pg_server = pg.pg_server

ACME = Path(__file__).resolve().parents[1] / "flows" / "acme_retail.yaml"


@pytest.fixture
async def store(db_url: str, tmp_path: Path) -> AsyncIterator[CallStore]:
    s = CallStore(db_url, spool_dir=tmp_path / "spool", node="n1")
    await s.start()
    yield s
    await s.close()


def _request(number: str) -> LookupRequest:
    return LookupRequest("c1", request_id="r1", source="customers", key=number)


async def test_start_up_seeds_the_demo_customers_once_and_finds_them_by_any_spelling(store: CallStore) -> None:
    sources = await customer_sources(CustomersConfig(), store.customers)
    assert await store.customers.seed(DEMO_CUSTOMERS) == []  # the second start-up adds nothing
    for spelling in ("+15550199", "sip:+1 555 0199@10.0.0.5;user=phone", "1-555-0199"):
        result = await answer(_request(spelling), sources)
        assert result.found and not result.error, spelling
        record = json.loads(result.record)
        assert (record["id"], record["name"], record["tier"], record["number"]) == (
            "C1002", "Marcus Lee", "vip", "15550199")  # fmt: skip
        assert record["numbers"] == ["+15550101", "+15550199"] and "updated_at" not in record
    missing = await answer(_request("+15559999"), sources)
    assert (missing.found, missing.error) == (False, "")


async def test_customers_are_managed_and_a_number_has_one_owner(store: CallStore) -> None:
    await customer_sources(CustomersConfig(seed_demo=False), store.customers)
    assert await store.customers.search() == []  # [customers] seed_demo = false: a real customer list
    ann = await store.customers.save(name="Ann Ode", tier="VIP", notes=" big spender ", numbers=["+44 20 7946 0000"],
                                     by="sup")  # fmt: skip
    assert (ann["tier"], ann["notes"], ann["numbers"], ann["updated_by"]) == ("vip", "big spender",
                                                                               ["+44 20 7946 0000"], "sup")
    with pytest.raises(CustomerError, match="already belongs to customer " + ann["id"]):
        await store.customers.save(name="Bo", tier="", notes="", numbers=["442079460000"], by="sup")
    with pytest.raises(CustomerError, match="needs at least one phone number"):
        await store.customers.save(name="Bo", tier="", notes="", numbers=["  "], by="sup")
    bo = await store.customers.save("B7", name="Bo", tier="", notes="", numbers=["+1 555 0142"], by="sup")
    assert bo["tier"] == "standard"
    moved = await store.customers.save(ann["id"], name="Ann Ode", tier="standard", notes="",
                                       numbers=["+44 20 7946 0001"], by="admin")  # fmt: skip
    assert moved["numbers"] == ["+44 20 7946 0001"]
    assert await store.customers.find("+442079460000") is None  # the old number was let go
    assert [c["id"] for c in await store.customers.search("0142")] == ["B7"]
    assert [c["name"] for c in await store.customers.search("ann")] == ["Ann Ode"]
    assert [c["name"] for c in await store.customers.search()] == ["Ann Ode", "Bo"]
    assert await store.customers.delete("B7") and not await store.customers.delete("B7")
    assert await store.customers.find("15550142") is None


async def test_an_edited_demo_customer_keeps_its_edits_at_the_next_start_up(store: CallStore) -> None:
    await customer_sources(CustomersConfig(), store.customers)
    await store.customers.save("C1003", name="Priya Raman", tier="vip", notes="upgraded", numbers=["+15550102"],
                               by="sup")  # fmt: skip
    await customer_sources(CustomersConfig(), store.customers)
    found = await store.customers.find("+15550102")
    assert found is not None and (found["tier"], found["notes"]) == ("vip", "upgraded")


def test_the_customers_section_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"needs a url with \{number\}"):
        CustomersConfig(source="http", url="http://crm.local/customers")
    with pytest.raises(ConfigError, match='use "database" or "http"'):
        CustomersConfig(source="crm")
    with pytest.raises(ConfigError, match="less than 4"):
        CustomersConfig(timeout_seconds=5)


# --- an HTTP endpoint (a real aiohttp server on 127.0.0.1) -------------------------------------------------

ANSWERS: dict[str, tuple[int, str, float]] = {  # number -> (status, body, delay)
    "15550100": (200, json.dumps({"id": "X1", "name": "Dana W", "tier": "VIP", "language": "es"}), 0.0),
    "15550102": (404, "", 0.0),
    "15550103": (200, "null", 0.0),
    "15550104": (200, "<html>Service temporarily unavailable</html>", 0.0),
    "15550105": (200, '["not", "an", "object"]', 0.0),
    "15550106": (500, "oops", 0.0),
    "15550107": (200, json.dumps({"name": "Slow"}), 3.0),
}


@pytest.fixture
async def crm() -> AsyncIterator[str]:
    async def handle(request: web.Request) -> web.Response:
        status, body, delay = ANSWERS.get(request.query.get("phone", ""), (404, "", 0.0))
        await asyncio.sleep(delay)
        return web.Response(status=status, text=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/customers", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/customers?phone={{number}}"
    await runner.cleanup()


async def test_an_http_endpoint_finds_customers_and_anything_else_is_an_error(crm: str) -> None:
    sources = await customer_sources(CustomersConfig(source="http", url=crm, timeout_seconds=0.5), store_unused())
    found = await answer(_request("sip:+15550100@pbx"), sources)
    record = json.loads(found.record)
    assert found.found and (record["id"], record["name"], record["tier"], record["language"], record["number"]) == (
        "X1", "Dana W", "vip", "es", "15550100")  # fmt: skip
    assert record["numbers"] == ["15550100"]
    for number in ("+15550102", "+15550103", "+15550999"):  # 404, null, unknown
        nobody = await answer(_request(number), sources)
        assert (nobody.found, nobody.error) == (False, ""), number
    failures = [("+15550104", "not a JSON object"), ("+15550105", "not a JSON object"),
                ("+15550106", "answered HTTP 500"), ("+15550107", "answered no answer within 0.5 s")]  # fmt: skip
    for number, wanted in failures:
        started = time.monotonic()
        bad = await answer(_request(number), sources)
        assert time.monotonic() - started < 2
        assert not bad.found and wanted in bad.error, (number, bad.error)


def store_unused() -> Any:
    class Unused:
        async def find(self, number: str) -> None:
            raise AssertionError("the http source must not read the database")

        async def seed(self, customers: Mapping[str, Any]) -> list[str]:
            raise AssertionError("the http source must not seed the database")

    return Unused()


# --- calls on the Acme flow ---------------------------------------------------------------------------------


@functools.cache
def _acme() -> FlowRunner:
    return FlowRunner(load_flow(ACME))  # trains the intent model: seconds on a busy machine, so once


async def _agent_call(
    sources: Mapping[str, LookupSource], tmp_path: Path, caller: str
) -> tuple[Voice, Queue, FlowCall]:
    """The Acme flow on a call from `caller`: wait for the main menu, press 0, and return where it went."""
    voice, queue, leg = Voice(), Queue(), Leg()
    leg.caller = f"sip:{caller}@127.0.0.1"
    services = CallServices(voice=voice, sources=sources, voicemail_dir=tmp_path, transfer=queue)
    call = FlowCall(leg, _acme(), services)  # type: ignore[arg-type]
    task = asyncio.create_task(call.run())
    deadline = time.monotonic() + 10
    while not any("or 0 for an agent" in s for s in voice.said):
        assert time.monotonic() < deadline, voice.said
        await asyncio.sleep(0.02)
    leg._events.put(DtmfDigit(leg.call_id, digit="0"))
    while not queue.requests:
        assert time.monotonic() < deadline, voice.said
        await asyncio.sleep(0.02)
    await leg.hangup()
    await asyncio.wait_for(task, 5)
    return voice, queue, call


async def test_a_vip_from_the_table_is_welcomed_queued_first_and_named_to_the_agent(
    store: CallStore, tmp_path: Path
) -> None:
    sources = await customer_sources(CustomersConfig(), store.customers)
    voice, queue, call = await _agent_call(sources, tmp_path, "+15550100")
    assert "Welcome back, Dana Whitfield." in voice.said
    assert [(r.queue, r.priority) for r in queue.requests] == [("support", 10)]
    assert customer_headers(call) == {"X-IVR-Customer": "Dana Whitfield", "X-IVR-Customer-Id": "C1001",
                                      "X-IVR-Customer-Tier": "vip"}  # fmt: skip
    voice, queue, call = await _agent_call(sources, tmp_path, "+15550102")  # a standard customer
    assert "Welcome back, Priya Raman." in voice.said and queue.requests[0].priority == 0
    assert customer_headers(call)["X-IVR-Customer-Tier"] == "standard"
    voice, queue, call = await _agent_call(sources, tmp_path, "caller")  # nobody we know
    assert not any("Welcome back" in s for s in voice.said) and queue.requests[0].priority == 0
    assert call.customer is None and customer_headers(call) == {}


@pytest.mark.parametrize("number", ["+15550104", "+15550107"])  # garbage, and slower than the timeout
async def test_an_endpoint_that_fails_leaves_the_caller_served_as_anyone_else(
    crm: str, tmp_path: Path, number: str, caplog: pytest.LogCaptureFixture
) -> None:
    sources = await customer_sources(CustomersConfig(source="http", url=crm, timeout_seconds=0.5), store_unused())
    voice, queue, call = await _agent_call(sources, tmp_path, number)
    assert voice.said[:2] == ["Thank you for calling Acme.", voice.said[1]] and "or 0 for an agent" in voice.said[1]
    assert [(r.queue, r.priority, r.reason) for r in queue.requests] == [("support", 0, "Caller asked for an agent")]
    assert call.customer is None
    assert "lookup in customers failed: customer endpoint http://127.0.0.1:" in caplog.text


async def test_a_locked_customer_table_times_out_and_the_caller_is_served(
    pg_server: TemporaryPostgres, tmp_path: Path
) -> None:
    # Another session holds the customers table locked longer than the lookup's 4 s limit: the read waits on the
    # lock, the lookup gives up, and the flow goes on to the main menu.
    url = pg.fresh_database(pg_server)
    s = CallStore(url, spool_dir=tmp_path / "spool", node="n1")
    await s.start()
    try:
        sources = await customer_sources(CustomersConfig(), s.customers)
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as lock:
            lock.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
            _acme()
            started = time.monotonic()
            voice, queue, call = await _agent_call(sources, tmp_path, "+15550100")
            assert 3.9 < time.monotonic() - started < 9
            lock.rollback()
        assert not any("Welcome back" in t for t in voice.said)
        assert [(r.queue, r.priority) for r in queue.requests] == [("support", 0)]  # served, without the VIP priority
        assert call.customer is None
        result = await answer(_request("+15550100"), sources)
        assert result.found  # back as soon as the lock is
    finally:
        await s.close()
