"""The live ACD: agents logged in at start, decisions stored and routed, ring timeouts from its timer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ivr.core.config import AgentConfig, QueueConfig
from ivr.queues import Announce, CancelOffer, Connected, Decision, Enqueued, NoAnswer, Offer, QueueError
from ivr.session.acd import Acd, queues_with_defaults


class Events:
    """Records add_queue_event calls like CallStore would store them."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add_queue_event(self, kind: str, **fields: Any) -> str:
        self.rows.append({"kind": kind, **fields})
        return str(len(self.rows))

    def kinds(self) -> list[str]:
        return [r["kind"] for r in self.rows]


def _agents(*ids: str) -> list[AgentConfig]:
    return [AgentConfig(id=i, name=i, sip_uri=f"sip:{i}@127.0.0.1", queues=("support",)) for i in ids]


async def _next(inbox: asyncio.Queue[Decision], kind: type, timeout: float = 2.0) -> Any:
    while True:
        d = await asyncio.wait_for(inbox.get(), timeout)
        if isinstance(d, kind):
            return d


async def test_ring_timeout_from_the_timer_offers_the_next_agent_and_everything_is_stored() -> None:
    events = Events()
    queue = QueueConfig(name="support", ring_timeout=0.05, no_answer="available", wrap_up=0.05, announce_interval=0)
    acd = Acd([queue], _agents("ann", "bob"), events)
    acd.start()
    try:
        assert events.kinds() == ["agent_state", "agent_state"]  # both logged in, available
        inbox = acd.enqueue("c1", "support", caller="555")
        first = await _next(inbox, Offer)
        assert first.agent.id == "ann"
        cancel = await _next(inbox, CancelOffer)  # nobody answered within 50 ms: the timer withdrew it
        assert (cancel.agent_id, cancel.reason) == ("ann", "ring timeout")
        second = await _next(inbox, Offer)
        assert second.agent.id == "bob"
        acd.agent_answered("c1", "bob")
        assert (await _next(inbox, Connected)).agent_id == "bob"
        assert not acd.waiting("c1")
        acd.call_ended("c1")
        await asyncio.sleep(0.15)  # wrap-up ends by the timer
        assert acd.distributor.agent_state("bob").value == "available"
    finally:
        acd.leave("c1")
        await acd.stop()
    assert [k for k in events.kinds() if k != "agent_state"] == [
        "enqueued", "offered", "offer_cancelled", "no_answer", "offered", "answered",
    ]  # fmt: skip
    assert [r["detail"] for r in events.rows if r["agent_id"] == "bob" and r["kind"] == "agent_state"] == [
        "available", "ringing", "busy", "wrap_up", "available",
    ]  # fmt: skip


async def test_a_waiting_caller_is_announced_and_can_abandon() -> None:
    events = Events()
    queue = QueueConfig(name="support", announce_interval=0.05, overflow="")
    acd = Acd([queue], _agents("ann"), events)
    acd.start()
    try:
        first = acd.enqueue("c1", "support")
        await _next(first, Offer)  # ann rings for c1, so c2 has to wait
        inbox = acd.enqueue("c2", "support")
        await _next(inbox, Enqueued)
        a1 = await _next(inbox, Announce)  # at once on entering the queue
        a2 = await _next(inbox, Announce)  # again after the interval, from the timer
        assert (a1.position, a2.position) == (2, 2)  # c1 is ahead until ann answers
        acd.abandon("c2")
        assert not acd.waiting("c2")
    finally:
        await acd.stop()
    assert "abandoned" in events.kinds()


async def test_agent_no_answer_is_routed_and_unknown_queues_are_explained() -> None:
    acd = Acd([QueueConfig(name="support", no_answer="available")], _agents("ann"))
    acd.start()
    try:
        inbox = acd.enqueue("c1", "support")
        await _next(inbox, Offer)
        acd.agent_no_answer("c1", "ann")
        assert (await _next(inbox, NoAnswer)).agent_id == "ann"
        with pytest.raises(QueueError, match="unknown queue 'sales'"):
            acd.enqueue("c2", "sales")
        with pytest.raises(QueueError, match="already queued"):
            acd.enqueue("c1", "support")
    finally:
        await acd.stop()


async def test_supervisor_actions_reach_the_calls_and_every_observer_sees_each_decision() -> None:
    events, seen = Events(), list[Decision]()
    acd = Acd([QueueConfig(name="support", overflow="", wrap_up=0, announce_interval=0)], _agents("ann", "bob"), events)
    acd.observe(seen.append)
    acd.start()
    try:
        acd.set_queue_mode("support", "paused")
        inbox = acd.enqueue("c1", "support")
        await _next(inbox, Enqueued)
        acd.logout("ann")  # a supervisor logs ann out while the queue is paused
        assert acd.distributor.agent_state("ann").value == "offline"
        acd.set_queue_mode("support", "open")
        offer = await _next(inbox, Offer)
        assert offer.agent.id == "bob"
        with pytest.raises(QueueError, match="unknown agent 'zed'"):
            acd.logout("zed")
    finally:
        acd.leave("c1")
        await acd.stop()
    assert [d.kind for d in seen] == ["agent_state", "agent_state", "enqueued", "agent_state", "agent_state",
                                      "offered"]  # fmt: skip
    assert [r["kind"] for r in events.rows] == [d.kind for d in seen]  # stored and observed alike


def test_queues_a_flow_uses_get_defaults() -> None:
    configured = (QueueConfig(name="support", ring_timeout=5),)
    queues = queues_with_defaults(configured, ["support", "returns", ""])
    assert [q.name for q in queues] == ["support", "returns"]
    assert queues[0].ring_timeout == 5 and queues[1] == QueueConfig(name="returns")
