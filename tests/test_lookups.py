"""Order lookups on calls read the database (real SQLite and PostgreSQL); an outage takes the flow's error path."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from flows import FlowRunner, MemoryDataSource, load_flow
from flows.orders import DEMO_ORDERS
from ivr.core.events import DtmfDigit, LookupRequest, TransferRequested
from ivr.session.flow_call import FlowCall
from ivr.session.lookups import answer, database_sources
from ivr.session.services import CallServices
from ivr.storage import CallStore
from ivr.storage.pg_server import TemporaryPostgres
from tests import pg
from tests.test_flow_call_transfer import Leg

db_url = pg.db_url
pg_server = pg.pg_server

ACME = Path(__file__).resolve().parents[1] / "flows" / "acme_retail.yaml"


@pytest.fixture
async def store(db_url: str, tmp_path: Path) -> AsyncIterator[CallStore]:
    s = CallStore(db_url, spool_dir=tmp_path / "spool", node="n1")
    await s.start()
    yield s
    await s.close()


def _request(key: str) -> LookupRequest:
    return LookupRequest("c1", request_id="r1", source="orders", key=key)


async def test_start_up_seeds_the_demo_orders_once_and_lookups_read_them(store: CallStore) -> None:
    sources = await database_sources(store)
    assert sorted(await store.seed_orders(DEMO_ORDERS)) == []  # the second start-up adds nothing
    shipped = await answer(_request(" 12345 "), sources)
    assert shipped.found and not shipped.error
    assert '"arrives_on": "2025-11-24"' in shipped.record and '"status": "shipped"' in shipped.record
    for number, record in DEMO_ORDERS.items():
        assert await store.get_order(number) == dict(record)
    missing = await answer(_request("99999"), sources)
    assert (missing.found, missing.error) == (False, "")


async def test_a_real_order_database_is_not_given_demo_orders(store: CallStore) -> None:
    sources = await database_sources(store, seed=False)  # [storage] seed_demo_orders = false
    assert await store.get_order("12345") is None
    missing = await answer(_request("12345"), sources)
    assert (missing.found, missing.error) == (False, "")


class Voice:
    """Prompts as silence, remembering what was said."""

    def __init__(self) -> None:
        self.said: list[str] = []

    async def say(self, text: str, rate: int) -> bytes:
        self.said.append(text)
        return b"\x00\x00" * 160


class Queue:
    """A transfer handler that only records where the caller was sent."""

    def __init__(self) -> None:
        self.requests: list[TransferRequested] = []

    async def transfer(self, call: FlowCall, request: TransferRequested) -> None:
        self.requests.append(request)


async def _order_call(sources: Mapping[str, Any], tmp_path: Path, number: str) -> tuple[Voice, Queue]:
    """The Acme flow on a call: press 1, key the order number, and let the IVR answer."""
    voice, queue, leg = Voice(), Queue(), Leg()
    services = CallServices(voice=voice, sources=sources, voicemail_dir=tmp_path, transfer=queue)
    call = FlowCall(leg, FlowRunner(load_flow(ACME)), services)  # type: ignore[arg-type]
    task = asyncio.create_task(call.run())
    for keys in ("1", number):
        await asyncio.sleep(0.2)
        for key in keys:
            leg._events.put(DtmfDigit(leg.call_id, digit=key))
    deadline = time.monotonic() + 10
    while not any("anything else" in s or "can't look up" in s for s in voice.said):
        assert time.monotonic() < deadline, voice.said
        await asyncio.sleep(0.02)
    # After "can't look up" the flow goes on to the transfer: hanging up at once would race it.
    while any("can't look up" in s for s in voice.said) and not queue.requests:
        assert time.monotonic() < deadline, voice.said
        await asyncio.sleep(0.02)
    await leg.hangup()
    await asyncio.wait_for(task, 5)
    return voice, queue


async def test_a_call_reads_its_order_from_the_database(store: CallStore, tmp_path: Path) -> None:
    voice, queue = await _order_call(await database_sources(store), tmp_path, "24680")
    assert any("Order two four six eight zero was delivered on November eighteenth" in s for s in voice.said)
    assert queue.requests == []


async def test_with_the_database_down_a_lookup_fails_fast_and_the_caller_reaches_an_agent(
    pg_server: TemporaryPostgres, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = CallStore(pg.fresh_database(pg_server), spool_dir=tmp_path / "spool", node="n1")
    await s.start()
    try:
        sources = await database_sources(s)
        assert (await answer(_request("13579"), sources)).found
        await asyncio.to_thread(pg_server.stop)
        try:
            started = time.monotonic()
            result = await answer(_request("13579"), sources)
            assert time.monotonic() - started < 5  # not a hang: at most the lookup time limit
            assert not result.found and "cannot read orders from the database" in result.error
            caplog.set_level(logging.INFO)
            voice, queue = await _order_call(sources, tmp_path, "13579")
            assert any("Sorry, I can't look up orders right now" in t for t in voice.said)
            assert [(r.queue, r.reason) for r in queue.requests] == [("support", "Order lookup failed for order 13579")]
            assert "lookup in orders failed: cannot read orders" in caplog.text
        finally:
            await asyncio.to_thread(pg_server.start)
        assert (await answer(_request("13579"), sources)).found  # back as soon as the database is
    finally:
        await s.close()


async def test_a_source_that_does_not_answer_in_time_is_an_error_not_a_wait() -> None:
    class Stuck:
        async def fetch(self, key: str) -> Mapping[str, Any] | None:
            await asyncio.sleep(30)
            return None

    started = time.monotonic()
    result = await answer(_request("12345"), {"orders": Stuck()}, timeout=0.2)
    assert time.monotonic() - started < 2
    assert not result.found and result.error == "the 'orders' data source did not answer within 0.2 s"


async def test_in_memory_sources_still_answer_for_simulations() -> None:
    result = await answer(_request("55555"), {"orders": MemoryDataSource(DEMO_ORDERS)})
    assert result.found and '"refund": "89.99"' in result.record
    unknown = await answer(LookupRequest("c1", request_id="r2", source="stock", key="1"), {})
    assert "no data source named 'stock'" in unknown.error
