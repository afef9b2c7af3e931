"""ACD logic with an injected clock: order, skills, strategies, no-answer, abandon, overflow, EWT."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.core.config import AgentConfig, QueueConfig, load_config
from ivr.queues import (
    Abandoned,
    AgentState,
    AgentStateChanged,
    Announce,
    CallDistributor,
    CancelOffer,
    Connected,
    Decision,
    Enqueued,
    NoAnswer,
    Offer,
    Overflow,
    QueueError,
)


class Clock:
    """Test clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _q(name: str = "sales", **kw: object) -> QueueConfig:
    base: dict[str, object] = {"name": name, "wrap_up": 0.0, "announce_interval": 0.0, "overflow": ""}
    base.update(kw)
    return QueueConfig(**base)  # type: ignore[arg-type]


def _a(agent_id: str, *queues: str, skills: tuple[str, ...] = ()) -> AgentConfig:
    return AgentConfig(id=agent_id, name=agent_id.title(), sip_uri=f"sip:{agent_id}@pbx", queues=queues, skills=skills)


def offers(decisions: list[Decision]) -> list[tuple[str, str]]:
    return [(d.entry.call_id, d.agent.id) for d in decisions if isinstance(d, Offer)]


def of(kind: type, decisions: list[Decision]) -> list:  # type: ignore[type-arg]
    return [d for d in decisions if isinstance(d, kind)]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_callers_are_served_by_priority_then_arrival(clock: Clock) -> None:
    acd = CallDistributor([_q()], [_a("alice", "sales")], clock=clock)
    acd.login("alice")
    assert offers(acd.enqueue("c1", "sales")) == [("c1", "alice")]
    acd.agent_answered("c1", "alice")
    for call, prio in [("c2", 0), ("c3", 5), ("c4", 5), ("c5", 1)]:
        clock.advance(1)
        out = acd.enqueue(call, "sales", priority=prio)
        assert of(Enqueued, out) and not offers(out)
    assert [e.call_id for e in acd.waiting("sales")] == ["c3", "c4", "c5", "c2"]
    assert [acd.position(c) for c in ("c3", "c4", "c5", "c2")] == [1, 2, 3, 4]

    served = []
    for current in ["c1", "c3", "c4", "c5"]:
        (nxt,) = offers(acd.call_ended(current))
        served.append(nxt[0])
        acd.agent_answered(nxt[0], "alice")
    assert served == ["c3", "c4", "c5", "c2"]


def test_skills_are_required_and_the_most_specialised_agent_is_chosen(clock: Clock) -> None:
    agents = [
        _a("gen", "support", skills=("en", "de", "fr")),
        _a("en1", "support", skills=("en",)),
        _a("de1", "support", skills=("en", "de")),
    ]
    acd = CallDistributor([_q("support")], agents, clock=clock)
    acd.login("gen")  # idle the longest
    clock.advance(5)
    acd.login("de1")
    clock.advance(5)
    acd.login("en1")
    assert offers(acd.enqueue("c-en", "support", skills=["en"])) == [("c-en", "en1")]
    assert offers(acd.enqueue("c-de", "support", skills=["de"])) == [("c-de", "de1")]
    assert offers(acd.enqueue("c-fr", "support", skills=["fr"])) == [("c-fr", "gen")]
    assert offers(acd.enqueue("c-it", "support", skills=["it"])) == []  # nobody can: it waits


def test_a_high_priority_caller_nobody_can_serve_does_not_block_others(clock: Clock) -> None:
    acd = CallDistributor([_q()], [_a("en1", "sales", skills=("en",)), _a("de1", "sales", skills=("de",))], clock=clock)
    acd.login("de1")
    acd.enqueue("busy-de", "sales", skills=["de"])
    acd.agent_answered("busy-de", "de1")
    assert offers(acd.enqueue("vip-de", "sales", priority=9, skills=["de"])) == []
    acd.login("en1")
    assert offers(acd.enqueue("c-en", "sales", skills=["en"])) == [("c-en", "en1")]
    assert offers(acd.call_ended("busy-de")) == [("vip-de", "de1")]


def test_longest_idle_agent_gets_the_call(clock: Clock) -> None:
    acd = CallDistributor([_q()], [_a(n, "sales") for n in ("ann", "bob", "cid")], clock=clock)
    for name in ("bob", "cid", "ann"):
        acd.login(name)
        clock.advance(1)
    assert offers(acd.enqueue("c1", "sales")) == [("c1", "bob")]
    assert offers(acd.enqueue("c2", "sales")) == [("c2", "cid")]
    acd.agent_answered("c1", "bob")
    clock.advance(10)
    acd.call_ended("c1")  # bob is idle again, but only since now
    assert offers(acd.enqueue("c3", "sales")) == [("c3", "ann")]


def test_round_robin_cycles_in_config_order(clock: Clock) -> None:
    acd = CallDistributor([_q(strategy="round_robin")], [_a(n, "sales") for n in ("ann", "bob", "cid")], clock=clock)
    for name in ("cid", "bob", "ann"):
        acd.login(name)
    got = []
    for i in range(6):
        ((call, agent),) = offers(acd.enqueue(f"c{i}", "sales"))
        got.append(agent)
        acd.agent_answered(call, agent)
        acd.call_ended(call)
    assert got == ["ann", "bob", "cid", "ann", "bob", "cid"]


def test_ring_no_answer_makes_the_agent_not_ready_and_offers_the_next(clock: Clock) -> None:
    acd = CallDistributor([_q(ring_timeout=15)], [_a("ann", "sales"), _a("bob", "sales")], clock=clock)
    acd.login("ann")
    clock.advance(1)
    acd.login("bob")
    assert offers(acd.enqueue("c1", "sales")) == [("c1", "ann")]
    clock.advance(14.9)
    assert acd.tick() == []
    assert acd.next_deadline() == pytest.approx(clock.now + 0.1)
    clock.advance(0.1)
    out = acd.tick()
    assert [type(d) for d in out] == [CancelOffer, NoAnswer, AgentStateChanged, AgentStateChanged, Offer]
    assert offers(out) == [("c1", "bob")]
    assert acd.agent_state("ann") is AgentState.NOT_READY
    # a late report from the first dial attempt changes nothing
    assert acd.agent_no_answer("c1", "ann") == []
    assert of(CancelOffer, acd.agent_answered("c1", "ann"))[0].reason == "the offer was withdrawn"
    out = acd.agent_answered("c1", "bob")
    assert of(Connected, out)[0].wait == pytest.approx(15)


def test_ring_no_answer_can_leave_the_agent_available_and_retries_after_a_round(clock: Clock) -> None:
    acd = CallDistributor([_q(no_answer="available")], [_a("ann", "sales"), _a("bob", "sales")], clock=clock)
    acd.login("ann")
    acd.login("bob")
    acd.enqueue("c1", "sales")
    out = acd.agent_no_answer("c1", "ann")
    assert [type(d) for d in out][:1] == [NoAnswer]
    assert offers(out) == [("c1", "bob")]
    assert acd.agent_state("ann") is AgentState.AVAILABLE
    assert offers(acd.agent_no_answer("c1", "bob")) == [("c1", "ann")]  # both tried: round two


def test_caller_abandons_while_waiting_and_while_ringing(clock: Clock) -> None:
    acd = CallDistributor([_q()], [_a("ann", "sales")], clock=clock)
    acd.login("ann")
    acd.enqueue("c1", "sales")
    acd.enqueue("c2", "sales")
    clock.advance(7)
    out = acd.abandon("c2")
    assert [type(d) for d in out] == [Abandoned]
    assert of(Abandoned, out)[0].wait == pytest.approx(7)
    clock.advance(3)
    out = acd.abandon("c1")  # ann was ringing for c1
    assert [type(d) for d in out] == [CancelOffer, AgentStateChanged, Abandoned]
    assert acd.agent_state("ann") is AgentState.AVAILABLE
    assert acd.abandon("c1") == [] and acd.position("c1") is None
    assert offers(acd.enqueue("c3", "sales")) == [("c3", "ann")]


def test_overflow_after_max_wait_to_voicemail(clock: Clock) -> None:
    acd = CallDistributor([_q(max_wait=60, overflow="voicemail:sales")], [_a("ann", "sales")], clock=clock)
    acd.login("ann")
    acd.enqueue("c1", "sales")
    acd.agent_answered("c1", "ann")
    acd.enqueue("c2", "sales")
    assert acd.next_deadline() == pytest.approx(clock.now + 60)
    clock.advance(59)
    assert acd.tick() == []
    clock.advance(1)
    (ov,) = acd.tick()
    assert isinstance(ov, Overflow)
    assert (ov.target, ov.reason, ov.wait, ov.target_queue) == ("voicemail:sales", "max_wait", 60, None)
    assert acd.waiting("sales") == []


def test_overflow_to_another_queue_keeps_the_caller_moving(clock: Clock) -> None:
    queues = [_q("sales", max_wait=30, overflow="queue:backup"), _q("backup", overflow="voicemail")]
    acd = CallDistributor(queues, [_a("ann", "sales"), _a("bob", "backup")], clock=clock)
    acd.login("ann")
    acd.login("bob")
    acd.enqueue("c0", "sales")
    acd.agent_answered("c0", "ann")
    acd.enqueue("b0", "backup")
    acd.agent_answered("b0", "bob")
    acd.enqueue("c1", "sales", priority=2)
    clock.advance(30)
    out = acd.tick()
    assert [type(d) for d in out] == [Overflow, Enqueued]
    assert out[0].target_queue == "backup"  # type: ignore[attr-defined]
    assert [(e.call_id, e.queue, e.priority) for e in acd.waiting("backup")] == [("c1", "backup", 2)]
    assert offers(acd.call_ended("b0")) == [("c1", "bob")]
    out = acd.agent_answered("c1", "bob")
    assert of(Connected, out)[0].wait == pytest.approx(30)  # counted from the first queue


def test_overflow_when_no_agent_is_logged_in(clock: Clock) -> None:
    acd = CallDistributor([_q(overflow="voicemail")], [_a("ann", "sales"), _a("bob", "sales")], clock=clock)
    out = acd.enqueue("c1", "sales")
    assert [type(d) for d in out] == [Enqueued, Overflow]
    assert out[1].reason == "no_agents"  # type: ignore[attr-defined]
    acd.login("ann", ready=False)  # logged in but not ready still counts as staffed
    assert [type(d) for d in acd.enqueue("c2", "sales")] == [Enqueued]
    assert acd.ewt("c2") is None  # nobody ready: no estimate
    out = acd.logout("ann")
    assert [type(d) for d in out] == [AgentStateChanged, Overflow]


def test_no_overflow_while_an_agent_is_ringing(clock: Clock) -> None:
    acd = CallDistributor([_q(max_wait=10, overflow="voicemail", ring_timeout=20)], [_a("ann", "sales")], clock=clock)
    acd.login("ann")
    acd.enqueue("c1", "sales")
    clock.advance(12)
    assert acd.tick() == []
    clock.advance(8)
    out = acd.tick()  # ring timeout, ann not ready, then overflow for the long wait
    assert [type(d) for d in out] == [CancelOffer, NoAnswer, AgentStateChanged, Overflow]


def test_estimated_wait_and_periodic_announcements(clock: Clock) -> None:
    q = _q(announce_interval=30, handle_time=120)
    acd = CallDistributor([q], [_a("ann", "sales"), _a("bob", "sales")], clock=clock)
    acd.login("ann")
    acd.login("bob")
    for c in ("x1", "x2"):
        acd.enqueue(c, "sales")
        acd.agent_answered(c, "ann" if c == "x1" else "bob")
    announced = [of(Announce, acd.enqueue(c, "sales"))[0] for c in ("c1", "c2", "c3")]
    assert [(a.position, a.ewt) for a in announced] == [(1, 60), (2, 120), (3, 180)]
    clock.advance(29)
    assert acd.tick() == []
    clock.advance(1)
    assert [(a.entry.call_id, a.position) for a in of(Announce, acd.tick())] == [("c1", 1), ("c2", 2), ("c3", 3)]
    clock.advance(95)  # a late tick announces once, then keeps the interval
    assert len(of(Announce, acd.tick())) == 3
    assert acd.next_deadline() == pytest.approx(clock.now + 30)
    acd.abandon("c1")
    assert acd.ewt("c2") == 60 and acd.position("c3") == 2


def test_a_caller_offered_at_once_is_announced_once_every_agent_failed(clock: Clock) -> None:
    q = _q(announce_interval=30, ring_timeout=20, no_answer="not_ready")
    acd = CallDistributor([q], [_a("ann", "sales")], clock=clock)
    acd.login("ann")
    assert offers(acd.enqueue("c1", "sales")) == [("c1", "ann")]
    clock.advance(20)
    out = acd.tick()  # ann rang out and is not ready; nobody else can take the call
    assert of(NoAnswer, out) and not of(Announce, out)
    clock.advance(10)
    assert [(a.position, a.ewt) for a in of(Announce, acd.tick())] == [(1, None)]  # an interval after arrival


def test_wrap_up_then_available_and_handle_time_learning(clock: Clock) -> None:
    acd = CallDistributor([_q(wrap_up=10, handle_time=100)], [_a("ann", "sales")], clock=clock)
    acd.login("ann")
    acd.enqueue("c1", "sales")
    acd.agent_answered("c1", "ann")
    acd.enqueue("c2", "sales")
    clock.advance(190)
    out = acd.call_ended("c1")
    assert [(d.state, d.previous) for d in of(AgentStateChanged, out)] == [(AgentState.WRAP_UP, AgentState.BUSY)]
    assert acd.ewt("c2") == pytest.approx(0.8 * 100 + 0.2 * 200)
    clock.advance(9.9)
    assert offers(acd.tick()) == []
    clock.advance(0.1)
    assert offers(acd.tick()) == [("c2", "ann")]


def test_not_ready_or_logout_during_a_call_applies_after_it(clock: Clock) -> None:
    acd = CallDistributor([_q(wrap_up=30)], [_a("ann", "sales"), _a("bob", "sales")], clock=clock)
    acd.login("ann")
    acd.enqueue("c1", "sales")
    acd.agent_answered("c1", "ann")
    assert acd.set_not_ready("ann", "break") == []
    assert acd.agent_state("ann") is AgentState.BUSY
    acd.call_ended("c1")
    assert acd.agent_state("ann") is AgentState.NOT_READY  # no wrap-up: straight to the break
    acd.set_ready("ann")
    acd.login("bob")
    acd.enqueue("c2", "sales")  # rings ann (idle longer)
    out = acd.logout("ann")
    assert [type(d) for d in out] == [CancelOffer, AgentStateChanged, AgentStateChanged, Offer]
    assert offers(out) == [("c2", "bob")]
    with pytest.raises(QueueError, match="logged out"):
        acd.set_not_ready("ann")


def test_a_paused_queue_keeps_its_callers_waiting_until_it_is_opened(clock: Clock) -> None:
    acd = CallDistributor([_q(), _q("returns")], [_a("ann", "sales", "returns")], clock=clock)
    acd.login("ann")
    assert acd.set_mode("sales", "paused") == []
    assert acd.mode("sales") == "paused"
    assert offers(acd.enqueue("c1", "sales")) == []  # ann is free, but the queue offers nobody
    assert offers(acd.enqueue("c2", "returns")) == [("c2", "ann")]  # her other queue is open
    acd.agent_answered("c2", "ann")
    acd.call_ended("c2")
    assert offers(acd.tick()) == [] and acd.position("c1") == 1
    assert offers(acd.set_mode("sales", "open")) == [("c1", "ann")]
    with pytest.raises(QueueError, match="mode 'closed' is unknown"):
        acd.set_mode("sales", "closed")
    with pytest.raises(QueueError, match="unknown queue 'nope'"):
        acd.set_mode("nope", "paused")


def test_a_draining_queue_serves_who_waits_and_turns_new_callers_away(clock: Clock) -> None:
    acd = CallDistributor([_q(), _q("billing", overflow="voicemail:billing")], [_a("ann", "sales", "billing")],
                          clock=clock)  # fmt: skip
    acd.enqueue("c1", "sales")  # nobody logged in: c1 waits (no overflow configured)
    acd.set_mode("sales", "draining")
    with pytest.raises(QueueError, match="draining and has no overflow"):
        acd.enqueue("c2", "sales")
    assert offers(acd.login("ann")) == [("c1", "ann")]  # who was waiting is still served
    acd.set_mode("billing", "draining")
    out = acd.enqueue("c3", "billing")
    assert [(d.target, d.reason) for d in of(Overflow, out)] == [("voicemail:billing", "draining")]
    assert acd.members("billing") == ["ann"] and acd.mode("billing") == "draining"


def test_decisions_map_to_queue_event_records(clock: Clock) -> None:
    acd = CallDistributor([_q()], [_a("ann", "sales")], clock=clock)
    records = [d.as_record() for d in acd.login("ann")]
    records += [d.as_record() for d in acd.enqueue("c1", "sales", priority=3)]
    clock.advance(4)
    records += [d.as_record() for d in acd.agent_answered("c1", "ann")]
    kinds = [(r["kind"], r.get("agent_id"), r.get("wait_seconds"), r.get("detail")) for r in records if r]
    assert kinds == [
        ("agent_state", "ann", None, "available"),
        ("enqueued", "", None, "priority=3"),
        ("agent_state", "ann", None, "ringing"),
        ("offered", "ann", 0.0, ""),
        ("agent_state", "ann", None, "busy"),
        ("answered", "ann", 4.0, ""),
    ]


def test_configuration_is_validated_with_fix_it_messages() -> None:
    with pytest.raises(QueueError, match="unknown queue 'nope'"):
        CallDistributor([_q(overflow="queue:nope")], [])
    with pytest.raises(QueueError, match="loops: a -> b -> a"):
        CallDistributor([_q("a", overflow="queue:b"), _q("b", overflow="queue:a")], [])
    with pytest.raises(QueueError, match="strategy 'random'"):
        CallDistributor([_q(strategy="random")], [])
    with pytest.raises(QueueError, match="unknown queue"):
        CallDistributor([_q()], [_a("ann", "support")])
    with pytest.raises(QueueError, match="duplicate agent"):
        CallDistributor([_q()], [_a("ann", "sales"), _a("ann", "sales")])
    acd = CallDistributor([_q()], [_a("ann", "sales")])
    with pytest.raises(QueueError, match="add it to \\[\\[agents\\]\\]"):
        acd.login("zed")
    with pytest.raises(QueueError, match="known queues"):
        acd.enqueue("c1", "support")


def test_built_from_config_toml(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        """
[[queues]]
name = "sales"
strategy = "round_robin"
max_wait = 120
overflow = "queue:support"
announce_interval = 45
wrap_up = 15

[[queues]]
name = "support"

[[agents]]
id = "ann"
name = "Ann"
sip_uri = "sip:ann@127.0.0.1"
queues = ["sales", "support"]
skills = ["en"]
"""
    )
    cfg = load_config(path, env={})
    acd = CallDistributor(cfg.queues, cfg.agents, clock=clock)
    acd.login("ann")
    (offer,) = of(Offer, acd.enqueue("c1", "sales", skills=["en"]))
    assert (offer.agent.sip_uri, offer.timeout) == ("sip:ann@127.0.0.1", 20.0)
