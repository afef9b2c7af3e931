"""The agent desk and the agents admin over a real SQLite store, a real Acd, LiveFloor and CallBus, and SSE.

The screen pop is asked for the way QueueTransfer asks before dialling the agent; the call it describes is a
FlowCall's data (its state, leg and flow), here without a phone. The real SIP path is tests/web/test_agent_desk.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from flows.state import RunState
from ivr.core.config import AgentConfig, DeskConfig, LiveConfig, QueueConfig
from ivr.core.events import Say, StepEntered, TransferRequested
from ivr.queues import Enqueued, Offer
from ivr.session.acd import Acd
from ivr.session.desk import AgentDesk
from ivr.session.live_floor import LiveFloor
from tests.console import Console, console_app
from tests.test_web_live import _event

LEAD = 3.0  # long enough that a pop returning sooner shows it waited for the desk, not for the clock


@dataclass
class Desk:
    """The console with a running Acd, live floor and agent desk, as `ivr serve` wires them."""

    console: Console
    acd: Acd
    live: LiveFloor
    desk: AgentDesk


@pytest.fixture
async def desk(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Desk]:
    queues = [QueueConfig(name="support", overflow="", wrap_up=30, announce_interval=0, ring_timeout=30),
              QueueConfig(name="sales", overflow="", wrap_up=0, announce_interval=0)]  # fmt: skip
    agents = [AgentConfig(id="agent", name="Alex", sip_uri="sip:alex@127.0.0.1", queues=("support",)),
              AgentConfig(id="bob", name="Bob", sip_uri="sip:bob@127.0.0.1", queues=("sales",))]  # fmt: skip
    acd = Acd(queues, agents)
    live = LiveFloor(acd, LiveConfig(alert_check_seconds=60))
    agent_desk = AgentDesk(acd, live, DeskConfig(pop_lead_seconds=LEAD), store=None)
    acd.start()
    agent_desk.start()
    async for console in console_app(tmp_path, aiohttp_client, live=live, desk=agent_desk):
        agent_desk.store = console.store
        assert await console.store.desk.seed(agents, queues) == ["queue support", "queue sales", "agent agent",
                                                                 "agent bob"]  # fmt: skip
        await live.start(console.store)
        try:
            yield Desk(console, acd, live, agent_desk)
        finally:
            await agent_desk.stop()
            await live.stop()
            await acd.stop()


def _flow_call(call_id: str) -> Any:
    """What the pop reads of a FlowCall: id, state (variables), leg, and the flow's steps (a sensitive one)."""
    visits = {"greeting": 1, "lookup_caller": 1, "main_menu": 1}  # the runner's: every step, waited at or not
    variables = {"caller": "+15550001", "order_number": "12345", "card": "4111", "last": {"intent": "agent"},
                 "visits": visits}  # fmt: skip
    state = RunState(call_id, "1", variables=variables)
    card_step = SimpleNamespace(sensitive=True, settings=SimpleNamespace(into="card"))
    return SimpleNamespace(call_id=call_id, state=state, leg=SimpleNamespace(caller="sip:+15550001@127.0.0.1"),
                           runner=SimpleNamespace(flow=SimpleNamespace(steps={"card": card_step})))  # fmt: skip


def _ring(d: Desk, call_id: str) -> Offer:
    """A caller who went through the flow joins `support` and is offered to the agent, as a real call is."""
    d.live.call_started(call_id, caller='"Bob" <sip:+15550001@127.0.0.1>', flow="acme_retail", version=3)
    call = SimpleNamespace(call_id=call_id, listen=None)
    for e in (
        StepEntered(call_id, step="greeting", at=time.monotonic()),
        Say(call_id, text="Welcome to Acme."),
        StepEntered(call_id, step="main_menu", at=time.monotonic()),
        Say(call_id, text="How can I help?"),
    ):
        d.live.event(call, e)
    inbox = d.acd.enqueue(call_id, "support", caller="+15550001")
    offer = next(d for d in iter(inbox.get_nowait, None) if not isinstance(d, Enqueued))
    assert isinstance(offer, Offer) and offer.agent.id == "agent"
    return offer


async def _pop(d: Desk, call_id: str, offer: Offer) -> float:
    """QueueTransfer's call before dialling; returns how long it held the dial."""
    started = time.monotonic()
    headers = {"X-IVR-Caller": "+15550001", "X-IVR-Intent": "agent", "X-IVR-Transcript": "http://x/t"}
    await d.desk.pop(_flow_call(call_id), TransferRequested(call_id, queue="support"), offer, headers)
    return time.monotonic() - started


async def test_an_agent_sets_available_not_ready_with_a_reason_and_logged_out_through_the_acd(desk: Desk) -> None:
    agent = await desk.console.client("agent")
    view = await (await agent.get("/api/desk")).json()
    assert view["agent"]["id"] == "agent" and view["agent"]["state"] == "available" and view["call"] is None
    assert view["reasons"] == list(DeskConfig().not_ready_reasons)
    r = await agent.post("/api/desk/state", {"state": "not_ready", "reason": "Lunch"})
    assert r.status == 200, await r.text()
    assert (await r.json())["agent"]["state"] == "not_ready" and (await r.json())["agent"]["reason"] == "Lunch"
    r = await agent.post("/api/desk/state", {"state": "not_ready", "reason": "Nap"})
    assert r.status == 400 and "Lunch" in (await r.json())["error"]
    r = await agent.post("/api/desk/state", {"state": "logged_out"})
    assert (await r.json())["agent"]["state"] == "offline"
    r = await agent.post("/api/desk/state", {"state": "available"})
    assert (await r.json())["agent"]["state"] == "available"
    sup = await desk.console.client("supervisor")
    floor = await (await sup.get("/api/live")).json()
    assert {a["id"]: a["state"] for a in floor["agents"]}["agent"] == "available"  # the live floor saw it all
    assert (await sup.get("/api/desk")).status == 403
    audit, total = await desk.console.store.console.list_audit(action="agent.state")
    assert total == 3 and (audit[0].actor, audit[0].target, audit[0].detail["state"]) == ("agent", "agent", "available")


async def test_the_pop_reaches_the_open_desk_before_the_dial_and_the_call_grows_and_ends_in_wrap_up(
    desk: Desk,
) -> None:
    agent = await desk.console.client("agent")
    stream = await agent.get("/api/desk/stream")
    name, first = await _event(stream)
    assert name == "desk" and first["call"] is None
    offer = _ring(desk, "c1")
    dial = asyncio.create_task(_pop(desk, "c1", offer))
    records: list[dict[str, Any]] = []
    while not any(r["kind"] == "screen_pop" for r in records):
        name, batch = await _event(stream)
        assert name == "records"
        records += batch
    await asyncio.sleep(0.2)
    assert not dial.done()  # the agent's phone is not dialled before the desk shows the pop ...
    assert (await agent.post("/api/desk/calls/c1/shown")).status == 200
    held = await dial
    assert held < LEAD / 2, held  # ... and is dialled as soon as it does, not when the lead runs out
    pop = next(r for r in records if r["kind"] == "screen_pop")
    p = pop["pop"]
    assert (p["caller"], p["intent"], p["queue"], p["path"], p["flow"]) == (
        "+15550001", "agent", "support", ["greeting", "lookup_caller", "main_menu"], "acme_retail")  # fmt: skip
    assert p["slots"] == {"order_number": "12345", "card": "••••"}  # the sensitive step's value is masked
    assert [t["text"] for t in pop["turns"]] == ["Welcome to Acme.", "How can I help?"]

    desk.acd.agent_answered("c1", "agent")
    call = SimpleNamespace(call_id="c1", listen=None)
    desk.live.event(call, Say("c1", text="Connecting you now."))
    desk.live.bus.publish("bridge_turn", "c1", speaker="caller", text="hi I need help with my order")
    await stream.release()  # the agent closes the browser mid-call: the call goes on
    await asyncio.sleep(0.05)
    view = await (await agent.get("/api/desk")).json()  # ... and reopens it
    assert view["call"]["call_id"] == "c1" and view["call"]["phase"] == "talking"
    assert [t["text"] for t in view["call"]["turns"]][-2:] == ["Connecting you now.", "hi I need help with my order"]
    assert view["agent"]["state"] == "busy"

    desk.acd.call_ended("c1")
    desk.live.call_ended("c1", "transferred")
    view = await (await agent.get("/api/desk")).json()
    assert view["call"]["phase"] == "ended" and view["agent"]["state"] == "wrap_up"
    assert 20 < view["agent"]["wrap_ends"] - time.time() <= 30  # the queue's wrap_up of 30 s

    store = desk.console.store
    store.call_started("c1", caller="+15550001")
    store.call_updated("c1", queue="support", agent_id="agent")
    r = await agent.post("/api/desk/calls/c1/disposition", {"disposition": "Shrugged", "notes": ""})
    assert r.status == 400 and "Resolved" in (await r.json())["error"]
    r = await agent.post(
        "/api/desk/calls/c1/disposition",
        {"disposition": "Order changed", "notes": "Moved delivery to Friday.", "ready": True},
    )
    assert r.status == 200, await r.text()
    assert desk.acd.status("agent").state.value == "available"  # wrap-up ended early
    page = await (await agent.get("/api/calls/c1")).json()
    assert page["disposition"]["disposition"] == "Order changed"
    assert page["disposition"]["notes"] == "Moved delivery to Friday." and page["disposition"]["by"] == "agent"
    html = await (await (await desk.console.client("qa")).get("/calls/c1")).text()
    assert "Order changed" in html and "Moved delivery to Friday." in html


async def test_without_an_open_desk_the_pop_does_not_hold_the_call_and_others_calls_are_refused(desk: Desk) -> None:
    offer = _ring(desk, "c2")
    assert await _pop(desk, "c2", offer) < 0.1
    agent = await desk.console.client("agent")
    view = await (await agent.get("/api/desk")).json()
    assert view["call"]["call_id"] == "c2" and view["call"]["phase"] == "ringing"
    desk.acd.agent_no_answer("c2", "agent")  # the phone did not answer: the pop goes away
    assert (await (await agent.get("/api/desk")).json())["call"] is None
    desk.console.store.call_started("c9", caller="+1555")
    desk.console.store.call_updated("c9", agent_id="bob")
    r = await agent.post("/api/desk/calls/c9/disposition", {"disposition": "Resolved"})
    assert r.status == 404


async def test_admins_and_supervisors_manage_agents_and_queues_and_the_running_acd_follows(desk: Desk) -> None:
    sup = await desk.console.client("supervisor")
    roster = await (await sup.get("/api/agents")).json()
    assert [a["id"] for a in roster["agents"]] == ["agent", "bob"] and roster["running"] is True
    assert {q["name"]: q["wrap_up"] for q in roster["queues"]} == {"sales": 0.0, "support": 30.0}
    r = await sup.send("PUT", "/api/queues/billing", {"wrap_up": 5, "ring_timeout": 15, "overflow": ""})
    assert r.status == 200, await r.text()
    assert desk.acd.queues["billing"].wrap_up == 5
    r = await sup.send(
        "PUT",
        "/api/agents/cara",
        {"name": "Cara", "sip_uri": "sip:cara@127.0.0.1", "queues": ["billing", "support"], "skills": ["en", "de"]},
    )
    assert r.status == 200, await r.text()
    assert desk.acd.agents["cara"].skills == ("en", "de")
    assert desk.acd.distributor.agent_state("cara").value == "offline"  # logs in on their desk
    assert desk.acd.distributor.members("support") == ["agent", "cara"]
    r = await sup.send("PUT", "/api/agents/dan", {"sip_uri": "sip:dan@127.0.0.1", "queues": ["nowhere"]})
    assert r.status == 400 and "unknown queue" in (await r.json())["error"]
    r = await sup.send("PUT", "/api/agents/dan", {"sip_uri": "sip:dan@127.0.0.1", "user": "ghost"})
    assert r.status == 400 and "no console user" in (await r.json())["error"]
    r = await sup.send("DELETE", "/api/queues/billing")
    assert r.status == 409 and "cara" in (await r.json())["error"]
    admin = await desk.console.client("admin")
    assert (await admin.send("DELETE", "/api/agents/cara")).status == 200
    assert "cara" not in desk.acd.agents and desk.acd.distributor.members("support") == ["agent"]
    assert (await admin.send("DELETE", "/api/queues/billing")).status == 200
    queues, agents = await desk.console.store.desk.roster()
    assert [q.name for q in queues] == ["sales", "support"] and [a.config.id for a in agents] == ["agent", "bob"]
    # config.toml only seeds: a second start does not bring back what the console removed or changed
    assert await desk.console.store.desk.seed([AgentConfig(id="cara", sip_uri="sip:c@x")], []) == []
    for role in ("agent", "qa"):
        c = await desk.console.client(role)
        assert (await c.get("/api/agents")).status == 403
        assert (await c.send("PUT", "/api/queues/x", {})).status == 403
    html = await (await sup.get("/agents")).text()
    assert "Agents and queues" in html and "agents_admin.js" in html


async def test_a_user_who_is_no_agent_is_told_how_to_get_linked(desk: Desk, tmp_path: Path) -> None:
    sup = await desk.console.client("supervisor")
    r = await sup.send("PUT", "/api/agents/desk7", {"sip_uri": "sip:d7@127.0.0.1", "queues": ["support"],
                                                    "user": "agent"})  # fmt: skip
    assert r.status == 200, await r.text()
    agent = await desk.console.client("agent")
    view = await (await agent.get("/api/desk")).json()
    assert view["agent"]["id"] in ("agent", "desk7")  # linked by user, or named like the user
    await sup.send("DELETE", "/api/agents/agent")
    await sup.send("DELETE", "/api/agents/desk7")
    view = await (await agent.get("/api/desk")).json()
    assert view["agent"] is None and "ask a supervisor" in view["problem"]
    assert (await agent.post("/api/desk/state", {"state": "available"})).status == 409
