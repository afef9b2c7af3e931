"""Data sources a `lookup` step reads, and the seeded demo order store the Acme flow uses.

The runner never reads data itself: it emits LookupRequest(source, key) and waits for LookupResult.
The call session answers from a `DataSource` registered under the source name; `demo_sources()` gives
the in-memory demo store, which the session can replace with one backed by the database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from flows.customers import DEMO_CUSTOMERS, MemoryCustomers
from ivr.core.events import LookupRequest, LookupResult

DEMO_ORDERS: Mapping[str, Mapping[str, Any]] = {
    "12345": {"status": "shipped", "shipped_on": "2025-11-20", "arrives_on": "2025-11-24"},
    "24680": {"status": "delivered", "delivered_on": "2025-11-18"},
    "13579": {"status": "processing"},
    "55555": {"status": "cancelled", "refund": "89.99", "refunded_on": "2025-11-15"},
}


class DataSource(Protocol):
    """Something a lookup step can read records from, by key."""

    def get(self, key: str) -> Mapping[str, Any] | None:
        """The record for `key`, or None if there is none."""
        ...


class MemoryDataSource:
    """A read-only in-memory data source (demo data, tests)."""

    def __init__(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        self._records = {str(k): dict(v) for k, v in records.items()}

    def get(self, key: str) -> Mapping[str, Any] | None:
        """The record for `key`, or None."""
        record = self._records.get(key.strip())
        return dict(record) if record is not None else None


def demo_sources() -> dict[str, DataSource]:
    """The data sources of the bundled demo flows: 'orders' and 'customers' (callers found by number)."""
    return {"orders": MemoryDataSource(DEMO_ORDERS), "customers": MemoryCustomers(DEMO_CUSTOMERS)}


def answer_lookup(request: LookupRequest, sources: Mapping[str, DataSource]) -> LookupResult:
    """Resolve a runner's LookupRequest against `sources` (unknown source -> error result)."""
    source = sources.get(request.source)
    if source is None:
        return LookupResult(request.call_id, request_id=request.request_id, found=False,
                            error=f"no data source named {request.source!r}; register one with the session")
    try:
        record = source.get(request.key)
    except Exception as exc:  # a data source is the session's code; its failure must not kill the call
        return LookupResult(request.call_id, request_id=request.request_id, found=False, error=str(exc))
    if record is None:
        return LookupResult(request.call_id, request_id=request.request_id, found=False)
    return LookupResult(request.call_id, request_id=request.request_id, found=True, record=json.dumps(record))
