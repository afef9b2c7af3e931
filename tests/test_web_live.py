"""The live floor's API over a real SQLite store, a real Acd and a real CallBus: snapshot, SSE, transcripts, actions.

Call events enter where `ivr serve` feeds them: the journal tee (FloorStats, then the LiveFloor), the Acd's
decisions, and the call's start and end. Alerts go to a webhook served by a real aiohttp server in the test.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ivr.core.config import AgentConfig, LiveConfig, QueueConfig
from ivr.core.events import Event, Hangup, IntentDetected, Listen, Say, SpeechEnded, StepEntered, Transcript
from ivr.queues import Offer
from ivr.session.acd import Acd
from ivr.session.floor import FloorStats, JournalTee
from ivr.session.live_floor import LiveFloor
from tests.console import Console, LoggedIn, console_app


@dataclass
class _Call:
    """What a CallJournal reads of a FlowCall: its id, and the turn it listens for."""

    call_id: str
    listen: Listen | None = None


@dataclass
class Floor:
    """The console, the live floor and the parts that feed it, as `ivr serve` wires them."""

    console: Console
    live: LiveFloor
    acd: Acd
    stats: FloorStats
    hooks: list[dict[str, Any]]

    def events(self, call: _Call, *events: Event) -> None:
        tee = JournalTee((self.stats, self.live))
        for e in events:
            tee.event(call, e)

    def call(self, call_id: str, caller: str = '"Bob" <sip:+15550001@127.0.0.1>') -> _Call:
        self.stats.call_started(call_id)
        self.live.call_started(call_id, caller=caller, flow="acme_retail", version=1)
        return _Call(call_id)

    def end(self, call_id: str, outcome: str = "completed") -> None:
        self.stats.call_ended(call_id, outcome)
        self.live.call_ended(call_id, outcome)


@pytest.fixture
async def floor(tmp_path: Path, aiohttp_client: Any, aiohttp_server: Any) -> AsyncIterator[Floor]:
    hooks: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        hooks.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    hook_server = await aiohttp_server(app)
    queue = QueueConfig(name="support", overflow="", wrap_up=0, announce_interval=0, ring_timeout=30,
                        wait_alert_seconds=0.3, service_level_seconds=20)  # fmt: skip
    agents = [AgentConfig(id=i, name=i.title(), sip_uri=f"sip:{i}@x", queues=("support",)) for i in ("ann", "bob")]
    acd = Acd([queue], agents)
    stats = FloorStats()
    stats.watch(acd=acd)
    config = LiveConfig(webhook_url=str(hook_server.make_url("/hook")), alert_hold_seconds=0, alert_check_seconds=60,
                        stream_buffer=5, latency_alert_seconds=1.0, latency_alert_min_turns=1)  # fmt: skip
    live = LiveFloor(acd, config, floor=stats)
    acd.start()
    async for console in console_app(tmp_path, aiohttp_client, live=live):
        await live.start(console.store)
        try:
            yield Floor(console, live, acd, stats, hooks)
        finally:
            await live.stop()
            await acd.stop()


async def _event(resp: Any, timeout: float = 5.0) -> tuple[str, Any]:
    """The next server-sent event of a stream: its name and parsed data (comments are skipped)."""
    name, data = "", ""
    async with asyncio.timeout(timeout):
        while True:
            line = (await resp.content.readline()).decode()
            if line == "":
                raise AssertionError("the stream ended")
            line = line.rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
            elif line == "" and name:
                return name, json.loads(data)


async def test_a_call_from_the_flow_to_an_agent_shows_in_the_snapshot_and_its_transcript(floor: Floor) -> None:
    sup = await floor.console.client("supervisor")
    c1 = floor.call("c1")
    now = time.monotonic()
    floor.events(c1, StepEntered("c1", step="main_menu", at=now), Say("c1", text="How can I help?"))
    c1.listen = Listen("c1")
    floor.events(c1, SpeechEnded("c1", at=time.monotonic() - 0.4),
                 Transcript("c1", text="card 4111", final=True),
                 IntentDetected("c1", step="main_menu", text="[redacted speech]", intent="agent", confidence=0.9),
                 Say("c1", text="Let me connect you."))  # fmt: skip
    floor.acd.enqueue("c1", "support", caller="+15550001")  # ann rings at once
    floor.acd.agent_answered("c1", "ann")
    snap = await (await sup.get("/api/live")).json()
    assert snap["running"] is True and snap["seq"] > 0
    (call,) = snap["calls"]
    assert (call["caller"], call["phase"], call["queue"], call["agent"], call["step"], call["turns"]) == (
        "+15550001", "agent", "support", "ann", "main_menu", 3)  # fmt: skip
    support = snap["queues"][0]
    assert (support["waiting"], support["offered_today"], support["answered_today"], support["service_level"]) == (
        0, 1, 1, 1.0)  # fmt: skip
    assert support["available_agents"] == ["bob"]
    assert {a["id"]: (a["state"], a["call_id"]) for a in snap["agents"]} == {"ann": ("busy", "c1"),
                                                                            "bob": ("available", "")}  # fmt: skip
    assert snap["latency"]["count"] == 1 and 0.35 < snap["latency"]["p50"] < 1.0  # measured by FloorStats
    r = await sup.get("/api/live/calls/c1")
    turns = (await r.json())["turns"]
    assert [(t["speaker"], t["text"], t["intent"]) for t in turns] == [
        ("ivr", "How can I help?", ""), ("caller", "[redacted speech]", "agent"), ("ivr", "Let me connect you.", "")]
    floor.events(c1, Hangup("c1", by="caller", at=time.monotonic()))
    floor.acd.call_ended("c1")
    floor.end("c1", "transferred")
    r = await sup.get("/api/live/calls/c1")
    assert r.status == 404 and "not in progress" in (await r.json())["error"]
    snap = await (await sup.get("/api/live")).json()
    assert snap["calls"] == [] and {a["id"]: a["state"] for a in snap["agents"]}["ann"] == "available"


async def test_the_stream_sends_the_snapshot_then_every_record_as_it_happens(floor: Floor) -> None:
    sup = await floor.console.client("supervisor")
    resp = await sup.get("/api/live/stream")
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
    name, snap = await _event(resp)
    assert name == "snapshot" and snap["calls"] == []
    c2 = floor.call("c2", caller="<sip:2000@127.0.0.1>")
    floor.events(c2, StepEntered("c2", step="greeting", at=time.monotonic()), Say("c2", text="Welcome."))
    received: list[dict[str, Any]] = []
    while len(received) < 3:
        name, batch = await _event(resp)
        assert name == "records"
        received += batch
    assert [(r["kind"], r["call_id"]) for r in received] == [("call_offered", "c2"), ("step_entered", "c2"),
                                                             ("say", "c2")]  # fmt: skip
    assert received[0]["caller"] == "2000" and [r["seq"] for r in received] == sorted(r["seq"] for r in received)
    assert all(time.time() - r["t"] < 2 for r in received)
    for i in range(20):  # more than the stream's buffer of 5, all before the stream reads one
        floor.events(c2, Say("c2", text=f"line {i}"))
    name, fresh = await _event(resp)
    assert name == "snapshot"  # it fell behind: a fresh snapshot instead of what it missed
    assert fresh["calls"][0]["last"] == "IVR: line 19" and fresh["seq"] == floor.live.bus.seq
    resp.close()
    once = await sup.get("/api/live/stream?once=1")
    text = await asyncio.wait_for(once.text(), 5)  # the snapshot, then the end of the stream
    assert text.startswith("event: snapshot\nid: ") and text.count("event:") == 1


async def test_only_supervisors_and_admins_see_the_floor_and_its_actions_are_audited(floor: Floor) -> None:
    for role in ("qa", "agent"):
        c = await floor.console.client(role)
        assert (await c.get("/api/live")).status == 403
        assert (await c.get("/api/live/stream")).status == 403
        assert (await c.post("/api/live/agents/ann/logout")).status == 403
    admin = await floor.console.client("admin")
    assert (await admin.get("/live")).status == 200
    r = await admin.post("/api/live/queues/support/mode", {"mode": "sleeping"})
    assert r.status == 400
    r = await admin.post("/api/live/queues/nope/mode", {"mode": "paused"})
    assert r.status == 404 and "unknown queue 'nope'" in (await r.json())["error"]
    assert (await admin.post("/api/live/agents/zed/logout")).status == 404
    r = await admin.post("/api/live/agents/bob/logout")
    assert (await r.json()) == {"agent_id": "bob", "state": "offline"}
    lines, _ = await floor.console.store.console.list_audit(action="agent.logout")
    assert [(x.actor, x.target) for x in lines] == [("admin", "bob")]


async def test_a_paused_queue_holds_callers_alerts_on_their_wait_and_the_webhook_hears_raise_and_clear(
    floor: Floor,
) -> None:
    sup = await floor.console.client("supervisor")
    resp = await sup.get("/api/live/stream")
    await _event(resp)
    r = await sup.post("/api/live/queues/support/mode", {"mode": "paused"})
    assert (await r.json())["queue"]["mode"] == "paused"
    floor.call("c3")
    inbox = floor.acd.enqueue("c3", "support")
    await asyncio.sleep(0.4)  # over the queue's 0.3 s wait limit, and nobody is offered the call
    assert floor.acd.distributor.position("c3") == 1
    floor.live.check_alerts()
    snap = await (await sup.get("/api/live")).json()
    assert [a["key"] for a in snap["alerts"]] == ["queue_wait:support"]
    assert snap["queues"][0]["longest_wait"] >= 0.3 and snap["queues"][0]["mode"] == "paused"
    await sup.post("/api/live/queues/support/mode", {"mode": "open"})
    offer = await asyncio.wait_for(inbox.get(), 2)
    while not isinstance(offer, Offer):
        offer = await asyncio.wait_for(inbox.get(), 2)
    floor.acd.agent_answered("c3", offer.agent.id)
    floor.live.check_alerts()
    kinds: list[tuple[str, Any]] = []
    while not any(k == "alert" and not active for k, active in kinds):
        name, batch = await _event(resp)
        kinds += [(x["kind"], x.get("active")) for x in batch if name == "records"]
    assert ("queue_mode", None) in kinds and ("alert", True) in kinds and ("answered", None) in kinds
    for _ in range(50):
        if len(floor.hooks) == 2:
            break
        await asyncio.sleep(0.05)
    assert [(h["status"], h["key"]) for h in floor.hooks] == [("raised", "queue_wait:support"),
                                                              ("cleared", "queue_wait:support")]  # fmt: skip
    assert "waited" in floor.hooks[0]["message"]
    lines, _ = await floor.console.store.console.list_audit(action="queue.mode")
    assert [(x.target, x.detail) for x in lines] == [("support", {"mode": "open"}), ("support", {"mode": "paused"})]


async def test_slow_replies_raise_the_turn_latency_alert(floor: Floor) -> None:
    floor.live.reply_latency("c9", 2.5)  # as FloorStats hands each measured reply on
    floor.live.check_alerts()
    snap = (await (await (await floor.console.client("admin")).get("/api/live")).json())
    assert [a["kind"] for a in snap["alerts"]] == ["turn_latency"]
    assert "2.50 s" in snap["alerts"][0]["message"] and snap["latency"]["p95"] == 2.5


async def test_an_open_stream_ends_at_shutdown_so_the_server_stops_at_once(tmp_path: Path, aiohttp_client: Any) -> None:
    live = LiveFloor(None, LiveConfig())
    async for console in console_app(tmp_path, aiohttp_client, live=live):
        c: LoggedIn = await console.client("supervisor")
        resp = await c.get("/api/live/stream")
        assert (await _event(resp))[0] == "snapshot"
        started = time.monotonic()
        await c.http.close()  # the test server shuts down: its on_shutdown ends the stream
        assert time.monotonic() - started < 3
        assert live.bus.subscribers == 0
