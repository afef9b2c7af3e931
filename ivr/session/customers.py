"""Known customers on real calls: the `customers` lookup source, and the customer going with the call to the agent.

A flow finds the caller with a lookup step in the source named `customers` (key: the caller's number). `ivr serve`
registers either `StoreCustomers` (the customers table, seeded with the demo customers) or `HttpCustomers` (a
business system's endpoint, `[customers] url`). Both are read like the orders: off the loop, with a time limit,
and a source that cannot answer sends the flow to the step's on_error branch (ivr.session.lookups.answer).
The customer found is kept on the FlowCall (`call.customer`): the agent's INVITE carries it in X-IVR-Customer*
headers, and the agent desk's screen pop shows it (`customer_of(call)`).
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Mapping
from typing import Any, Protocol

from flows.customers import DEMO_CUSTOMERS
from ivr.core.config import CustomersConfig
from ivr.core.errors import IvrError
from ivr.core.events import HttpRequest, LookupRequest, LookupResult
from ivr.core.phone import number_key
from ivr.session.lookups import LookupSource

log = logging.getLogger(__name__)

CUSTOMER_SOURCE = "customers"
# A record's fields the agent sees first; an HTTP endpoint may send more (flows can route on them too).
_FIELDS = ("id", "name", "tier", "notes")


class CustomerLookupError(IvrError):
    """The customers endpoint answered something that is not a customer; the message says what and how to fix it."""


class CustomerTable(Protocol):
    """What StoreCustomers needs from the database (ivr.storage.customers.CustomerStore)."""

    async def find(self, number: str) -> Mapping[str, Any] | None: ...

    async def seed(self, customers: Mapping[str, Mapping[str, Any]]) -> list[str]: ...


class StoreCustomers:
    """The `customers` source read from the database's customers table."""

    def __init__(self, table: CustomerTable) -> None:
        self.table = table

    async def fetch(self, key: str) -> Mapping[str, Any] | None:
        """The customer whose number is `key` (any spelling), or None."""
        found = await self.table.find(key)
        return None if found is None else {k: v for k, v in found.items() if k not in ("updated_by", "updated_at")}


class HttpCustomers:
    """The `customers` source read from a business system: GET the URL template with {number} filled in.

    200 with a JSON object is the customer; 404, or 200 with `null` or `{}`, is nobody; anything else (another
    status, a body that is not a JSON object, no answer within the timeout) is an error: the flow's on_error.
    """

    def __init__(self, url: str, timeout: float) -> None:
        self.url, self.timeout = url, timeout

    async def fetch(self, key: str) -> Mapping[str, Any] | None:
        """The caller's customer record from the endpoint, or None."""
        from flows.http_step import perform  # aiohttp: loaded only where an endpoint is configured

        number = number_key(key)
        if not number:
            return None
        url = self.url.replace("{number}", urllib.parse.quote(number, safe=""))
        # No retries: the caller hears silence while this runs; a customer not found is better than a long wait.
        result = await perform(HttpRequest("", request_id="customer", url=url, timeout=self.timeout, retries=0))
        if result.status == 404:
            return None
        if result.status != 200:
            raise CustomerLookupError(f"customer endpoint {url} answered {result.error or result.status}; "
                                      "check it runs, or [customers] url")  # fmt: skip
        try:
            body = json.loads(result.body) if result.body.strip() else None
        except json.JSONDecodeError:
            body = result.body
        if body is None or body == {}:
            return None
        if not isinstance(body, dict):
            raise CustomerLookupError(
                f"customer endpoint {url} answered {result.body[:80]!r}, not a JSON object "
                'like {"id": "C1", "name": "Dana", "tier": "vip"}; fix the endpoint or [customers] url'
            )
        record = {**body, "number": number}
        for name in _FIELDS:
            record[name] = "" if body.get(name) is None else str(body.get(name))
        record["tier"] = (record["tier"] or "standard").lower()  # as the table stores it: flows test "vip"
        if not isinstance(record.get("numbers"), list):
            record["numbers"] = [number]
        return record


async def customer_sources(config: CustomersConfig, table: CustomerTable) -> dict[str, LookupSource]:
    """The `customers` source `[customers]` asks for; the database one is first seeded with the demo customers."""
    if config.source == "http":
        log.info("customers: callers are looked up at %s", config.url)
        return {CUSTOMER_SOURCE: HttpCustomers(config.url, config.timeout_seconds)}
    if config.seed_demo:
        added = await table.seed(DEMO_CUSTOMERS)
        if added:
            log.info("storage: seeded demo customers %s", ", ".join(added))
    return {CUSTOMER_SOURCE: StoreCustomers(table)}


def identified(request: LookupRequest, result: LookupResult) -> dict[str, Any] | None:
    """The customer a lookup found, if it was a lookup of the caller in the customers source."""
    if request.source != CUSTOMER_SOURCE or not result.found or not result.record:
        return None
    record = json.loads(result.record)
    return record if isinstance(record, dict) else None


def customer_of(call: object) -> dict[str, Any] | None:
    """The customer a call's flow identified (id, name, tier, notes, numbers, number), or None."""
    found = getattr(call, "customer", None)
    return dict(found) if isinstance(found, Mapping) else None


def customer_headers(call: object) -> dict[str, str]:
    """X-IVR-Customer (name), -Id and -Tier for the agent's INVITE; none when the caller is not known."""
    customer = customer_of(call)
    if customer is None:
        return {}
    return {"X-IVR-Customer": str(customer.get("name", "")), "X-IVR-Customer-Id": str(customer.get("id", "")),
            "X-IVR-Customer-Tier": str(customer.get("tier", ""))}  # fmt: skip
