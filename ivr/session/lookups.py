"""Lookup steps on real calls: data sources backed by the database, answered without blocking the loop.

`ivr serve` seeds the demo orders (flows.orders.DEMO_ORDERS) into the database's orders table and
replaces the in-memory 'orders' source with `StoreOrders`, which reads through the CallStore's read
threads. A lookup the database cannot answer in time becomes a LookupResult with an error, so the
flow takes its lookup step's on_error branch instead of leaving the caller in silence.
`ivr flows simulate` and `ivr flows test` keep the in-memory store: they never touch a database.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from flows import answer_lookup
from flows.orders import DEMO_ORDERS, DataSource
from ivr.core.errors import IvrError
from ivr.core.events import LookupRequest, LookupResult

log = logging.getLogger(__name__)

# PostgreSQL gives up connecting after [storage] connect_timeout_seconds (3 s by default); a caller should not
# hear more silence than that, whatever the database is doing.
LOOKUP_TIMEOUT = 4.0


@runtime_checkable
class AsyncDataSource(Protocol):
    """A data source whose reads do I/O: awaited, never called on the loop's thread."""

    async def fetch(self, key: str) -> Mapping[str, Any] | None:
        """The record for `key`, or None if there is none; raises IvrError when the source cannot answer."""
        ...


LookupSource = DataSource | AsyncDataSource


class OrderStore(Protocol):
    """What StoreOrders needs from the database (ivr.storage.CallStore)."""

    async def seed_orders(self, records: Mapping[str, Mapping[str, Any]]) -> list[str]: ...

    async def get_order(self, number: str) -> Mapping[str, Any] | None: ...


class StoreOrders:
    """The 'orders' data source read from the database's orders table."""

    def __init__(self, store: OrderStore) -> None:
        self.store = store

    async def fetch(self, key: str) -> Mapping[str, Any] | None:
        """The order numbered `key`, or None."""
        return await self.store.get_order(key)


async def database_sources(store: OrderStore, seed: bool = True) -> dict[str, LookupSource]:
    """Return the sources that read the database; first seed the demo orders missing from it, unless told not to."""
    added = await store.seed_orders(DEMO_ORDERS) if seed else []
    if added:
        log.info("storage: seeded demo orders %s", ", ".join(added))
    return {"orders": StoreOrders(store)}


async def answer(request: LookupRequest, sources: Mapping[str, LookupSource],
                 timeout: float = LOOKUP_TIMEOUT) -> LookupResult:
    """Resolve a runner's LookupRequest: in-memory sources at once, database ones awaited with a time limit."""
    source = sources.get(request.source)
    if not isinstance(source, AsyncDataSource):
        return answer_lookup(request, {} if source is None else {request.source: source})
    try:
        record = await asyncio.wait_for(source.fetch(request.key), timeout)
    except TimeoutError:
        error = f"the {request.source!r} data source did not answer within {timeout:g} s"
    except IvrError as exc:
        error = str(exc)
    else:
        if record is None:
            return LookupResult(request.call_id, request_id=request.request_id, found=False)
        return LookupResult(request.call_id, request_id=request.request_id, found=True,
                            record=json.dumps(dict(record)))
    # Not the key: it may come from a sensitive step.
    log.error("call %s: lookup in %s failed: %s", request.call_id, request.source, error)
    return LookupResult(request.call_id, request_id=request.request_id, found=False, error=error)
