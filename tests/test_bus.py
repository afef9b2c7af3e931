"""CallBus and the live floor's pure parts: fan-out, bounded buffers that drop the oldest, alerts, the call reducer."""

from __future__ import annotations

import asyncio
import time

import pytest

from ivr.core.config import LiveConfig
from ivr.session.alerts import AlertBook, FloorFacts, Missed, QueueFacts, missed_targets, webhook_body
from ivr.session.bus import CallBus
from ivr.session.live_view import LiveCalls


async def test_every_subscriber_gets_every_record_in_order_with_its_number_and_time() -> None:
    bus = CallBus(clock=lambda: 1000.5)
    a, b = bus.subscribe(), bus.subscribe(kinds={"hangup"})
    bus.publish("call_offered", "c1", caller="555")
    bus.publish("hangup", "c1", at=1002.0, by="caller")
    assert await a.next_batch(0) == [
        {"seq": 1, "t": 1000.5, "kind": "call_offered", "call_id": "c1", "caller": "555"},
        {"seq": 2, "t": 1002.0, "kind": "hangup", "call_id": "c1", "by": "caller"},
    ]
    assert [r["seq"] for r in await b.next_batch(0)] == [2]  # only the kinds it asked for
    assert await a.next_batch(0.01) == []  # nothing new: returns on the timeout
    assert bus.seq == 2


async def test_a_reader_waiting_wakes_up_on_the_next_record() -> None:
    bus = CallBus()
    sub = bus.subscribe()
    reader = asyncio.create_task(sub.next_batch(5))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    bus.publish("say", "c1", text="Hello")
    batch = await reader
    assert [r["text"] for r in batch] == ["Hello"] and time.monotonic() - started < 0.5


async def test_a_slow_subscriber_loses_its_oldest_records_and_is_told_how_many_and_publishing_never_waits() -> None:
    bus = CallBus()
    slow, fast = bus.subscribe(maxlen=3), bus.subscribe(maxlen=100)
    started = time.perf_counter()
    for i in range(10):
        bus.publish("say", "c1", text=str(i))
    assert time.perf_counter() - started < 0.05  # nobody reads, and nothing blocks
    assert [r["text"] for r in await slow.next_batch(0)] == ["7", "8", "9"]
    assert slow.take_dropped() == 7 and slow.take_dropped() == 0
    assert len(await fast.next_batch(0)) == 10 and fast.take_dropped() == 0


async def test_closing_ends_a_waiting_reader_and_unsubscribes_by_tag() -> None:
    bus = CallBus()
    web, hook = bus.subscribe(tag="web"), bus.subscribe(tag="webhook")
    reader = asyncio.create_task(web.next_batch(30))
    await asyncio.sleep(0.01)
    bus.close("web")
    assert await asyncio.wait_for(reader, 1) == [] and web.closed
    assert bus.subscribers == 1 and not hook.closed
    bus.publish("say", "c1")
    assert await web.next_batch(0) == []  # a closed subscription gets nothing more
    bus.close()
    assert bus.subscribers == 0


def _queue(**kw: object) -> QueueFacts:
    base: dict[str, object] = {"name": "support", "service_level": 0.9, "closed_today": 10, "target": 0.8,
                               "longest_wait": 0.0, "wait_limit": 60.0}  # fmt: skip
    return QueueFacts(**{**base, **kw})  # type: ignore[arg-type]


def test_missed_targets_follow_each_queues_target_and_the_live_limits() -> None:
    cfg = LiveConfig(latency_alert_seconds=1.5, latency_alert_min_turns=5, service_level_min_calls=5)
    assert missed_targets(FloorFacts(queues=(_queue(),), latency_p95=1.4, latency_turns=9), cfg) == []
    facts = FloorFacts(
        queues=(_queue(service_level=0.5), _queue(name="returns", longest_wait=61.0)),
        latency_p95=2.25, latency_turns=9, workers_up=3, workers_expected=4, workers_were_up=True,
    )  # fmt: skip
    missed = missed_targets(facts, cfg)
    assert [m.key for m in missed] == ["service_level:support", "queue_wait:returns", "turn_latency", "worker_down"]
    assert missed[0].message == "queue support: service level today is 50% of 10 calls, below its 80% target"
    assert "waited 61 s, over the 60 s limit" in missed[1].message
    assert "2.25 s" in missed[2].message and "1 of 4 media workers are down" in missed[3].message
    quiet = FloorFacts(queues=(_queue(service_level=0.0, closed_today=4), _queue(target=0.0, service_level=0.0)),
                       latency_p95=9.0, latency_turns=4, workers_up=0, workers_expected=4)  # fmt: skip
    assert missed_targets(quiet, cfg) == []  # too few calls/turns, no target, workers still starting


def test_an_alert_is_raised_once_its_target_stays_missed_for_the_hold_time_and_cleared_when_met() -> None:
    book = AlertBook(hold=5.0)
    wait = Missed("queue_wait:support", "queue_wait", "support", "a caller has waited 61 s")
    assert book.update([wait], 100.0) == ([], [])
    assert book.update([], 102.0) == ([], [])  # a blip: forgotten
    assert book.update([wait], 103.0) == ([], [])
    raised, cleared = book.update([wait], 108.0)
    assert [(a.key, a.since) for a in raised] == [("queue_wait:support", 103.0)] and cleared == []
    assert book.update([wait], 120.0) == ([], [])  # raised once, not on every check
    raised, cleared = book.update([], 121.0)
    assert raised == [] and [a.key for a in cleared] == ["queue_wait:support"] and book.active == {}
    body = webhook_body(cleared[0], active=False, at=121.0)
    assert body["status"] == "cleared" and body["kind"] == "queue_wait" and body["since"] == 103.0


def test_live_calls_follow_a_call_from_the_flow_to_a_queue_to_an_agent_and_away() -> None:
    calls = LiveCalls(max_turns=2)

    def rec(kind: str, t: float, **fields: object) -> dict[str, object]:
        return {"seq": 0, "t": t, "kind": kind, "call_id": "c1", **fields}

    calls.apply(rec("call_offered", 10.0, caller="+1555", flow="acme", version=3))
    calls.apply(rec("step_entered", 10.1, step="main_menu"))
    calls.apply(rec("say", 10.2, text="How can I help?"))
    calls.apply(rec("intent_detected", 12.0, text="an agent please", intent="agent", confidence=0.9))
    calls.apply(rec("say", 12.5, text="Connecting you."))
    c = calls.calls["c1"].call
    assert (c.phase, c.step, c.since, c.turns, c.last) == ("flow", "main_menu", 10.1, 3, "IVR: Connecting you.")
    found = calls.transcript("c1")
    assert found is not None and [t.speaker for t in found[1]] == ["caller", "ivr"]  # the newest max_turns
    calls.apply(rec("enqueued", 13.0, queue="support"))
    calls.apply(rec("offered", 14.0, queue="support", agent_id="ann"))
    assert (c.phase, c.queue, c.agent, c.since) == ("ringing", "support", "ann", 13.0)
    calls.apply(rec("no_answer", 16.0, queue="support", agent_id="ann"))
    assert (c.phase, c.agent) == ("queue", "")
    calls.apply(rec("answered", 20.0, queue="support", agent_id="bob", wait=7.0))
    assert (c.phase, c.agent, c.since) == ("agent", "bob", 20.0)
    calls.apply(rec("hangup", 30.0, by="agent"))
    assert calls.calls == {} and calls.transcript("c1") is None
    calls.apply(rec("say", 31.0, text="late"))  # records of a call that ended change nothing
    assert calls.calls == {}


@pytest.mark.parametrize("target", ["voicemail:support", "sip:desk@pbx"])
def test_an_overflow_out_of_the_queues_shows_where_the_call_went(target: str) -> None:
    calls = LiveCalls()
    calls.apply({"seq": 1, "t": 1.0, "kind": "call_offered", "call_id": "c1", "caller": "1"})
    calls.apply({"seq": 2, "t": 2.0, "kind": "enqueued", "call_id": "c1", "queue": "support"})
    calls.apply({"seq": 3, "t": 9.0, "kind": "overflow", "call_id": "c1", "queue": "support", "target": target})
    c = calls.calls["c1"].call
    assert (c.phase, c.step, c.since) == ("overflow", target, 9.0)
