"""Callbacks in the console over a real SQLite store and a real LiveFloor: the list, the alert, closing one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.core.config import AgentConfig, LiveConfig, QueueConfig
from ivr.session.acd import Acd
from ivr.session.live_floor import LiveFloor
from ivr.storage.callbacks import CallbackRow, CallbackStore
from tests.console import Console, console_app


@dataclass
class Floor:
    console: Console
    live: LiveFloor
    acd: Acd


@pytest.fixture
async def floor(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Floor]:
    acd = Acd([QueueConfig(name="support", callback_threshold=60, overflow="", announce_interval=0)],
              [AgentConfig(id="ann", name="Ann", sip_uri="sip:ann@x", queues=("support",))])  # fmt: skip
    live = LiveFloor(acd, LiveConfig(alert_hold_seconds=0, alert_check_seconds=60))
    async for console in console_app(tmp_path, aiohttp_client, live=live):
        yield Floor(console, live, acd)
    await live.stop()


def _row(callback_id: str, state: str, number: str = "5551234") -> CallbackRow:
    now = datetime.now(UTC)
    return CallbackRow(callback_id, f"call-{callback_id}", "support", number, "", 0, (), state, 2, 2,
                       "486 Busy Here", "ann", now, now, None, now, "")  # fmt: skip


async def test_a_failed_callback_is_an_alert_until_a_supervisor_closes_it(floor: Floor) -> None:
    store = CallbackStore(floor.console.store)
    failed, done = _row("f1", "failed"), _row("d1", "completed", "5550000")
    await store.add(failed)
    await store.add(done)
    floor.live.callback_failed(failed)
    floor.live.check_alerts()
    sup = await floor.console.client("supervisor")
    (alert,) = (await (await sup.get("/api/live")).json())["alerts"]
    assert alert["kind"] == "callback_failed" and alert["subject"] == "f1"
    assert "callback to 5551234 (queue support) failed after 2 attempt(s): 486 Busy Here" in alert["message"]

    listed = (await (await sup.get("/api/callbacks")).json())["callbacks"]
    assert {(c["id"], c["state"], c["attempts"]) for c in listed} == {("f1", "failed", 2), ("d1", "completed", 2)}
    only = (await (await sup.get("/api/callbacks?state=failed")).json())["callbacks"]
    assert [c["id"] for c in only] == ["f1"]
    bad = await sup.get("/api/callbacks?state=lost")
    assert bad.status == 400 and "pending" in (await bad.json())["error"]

    assert (await sup.post("/api/callbacks/d1/close")).status == 404  # only failed ones
    closed = await sup.post("/api/callbacks/f1/close")
    assert closed.status == 200
    body = await closed.json()
    assert (body["state"], body["closed_by"]) == ("closed", "supervisor")
    floor.live.check_alerts()
    assert (await (await sup.get("/api/live")).json())["alerts"] == []
    assert [c["state"] for c in (await (await sup.get("/api/callbacks?state=closed")).json())["callbacks"]] == [
        "closed"
    ]


async def test_agents_cannot_see_callbacks(floor: Floor) -> None:
    agent = await floor.console.client("agent")
    assert (await agent.get("/api/callbacks")).status == 403


async def test_a_callback_reaching_an_agent_is_not_counted_as_a_new_call(floor: Floor) -> None:
    inbox = floor.acd.enqueue("c9", "support")  # Ann is logged out: the caller waits
    assert inbox is not None
    floor.acd.hold_for_callback("c9", "5551234")
    floor.acd.start()  # Ann logs in and is offered the callback
    floor.acd.agent_answered("c9", "ann")
    sup = await floor.console.client("supervisor")
    (support,) = (await (await sup.get("/api/live")).json())["queues"]
    assert (support["offered_today"], support["answered_today"]) == (1, 0)
    await floor.acd.stop()
