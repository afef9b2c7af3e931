"""Known customers a `lookup` step finds by the caller's number (source `customers`), and the demo customers.

A customer record is what the flow gets in its `into` variable (the Acme flow: `customer`):
`{id, name, tier, notes, numbers, number}`, where `number` is the caller's number as matched. Numbers are
matched in one normal form (`ivr.core.phone.number_key`): '+1 555-0100', 'sip:+15550100@host' and
'15550100' are the same caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ivr.core.phone import number_key

# The demo hotline's customers (seeded into the customers table by `ivr serve`). Tier "vip" callers go first.
DEMO_CUSTOMERS: Mapping[str, Mapping[str, Any]] = {
    "C1001": {
        "name": "Dana Whitfield",
        "tier": "vip",
        "numbers": ["+15550100"],
        "notes": "Gold member since 2019; prefers follow-ups by email.",
    },
    "C1002": {
        "name": "Marcus Lee",
        "tier": "vip",
        "numbers": ["+15550101", "+15550199"],
        "notes": "Business account, 40 orders a year.",
    },
    "C1003": {"name": "Priya Raman", "tier": "standard", "numbers": ["+15550102"], "notes": ""},
    "C1004": {
        "name": "Tom Becker",
        "tier": "standard",
        "numbers": ["+15550103"],
        "notes": "Returned a damaged lamp in November 2025.",
    },
}


def customer_record(customer_id: str, fields: Mapping[str, Any], number: str = "") -> dict[str, Any]:
    """The record a lookup step gets for one customer (`number`: the caller's number it matched)."""
    return {
        "id": str(customer_id),
        "name": str(fields.get("name", "")),
        "tier": str(fields.get("tier", "") or "standard"),
        "notes": str(fields.get("notes", "")),
        "numbers": [str(n) for n in fields.get("numbers") or ()],
        "number": number,
    }


class MemoryCustomers:
    """An in-memory customers source keyed by every number of every customer (demo data, flow tests)."""

    def __init__(self, customers: Mapping[str, Mapping[str, Any]]) -> None:
        self._by_number: dict[str, tuple[str, Mapping[str, Any]]] = {}
        for cid, fields in customers.items():
            for n in fields.get("numbers") or ():
                self._by_number[number_key(str(n))] = (str(cid), fields)

    def get(self, key: str) -> Mapping[str, Any] | None:
        """The customer whose number is `key` (in any spelling), or None."""
        number = number_key(key)
        found = self._by_number.get(number) if number else None
        return customer_record(found[0], found[1], number) if found else None
