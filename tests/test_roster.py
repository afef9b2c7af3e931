"""Changing a running distributor's agents and queues (ivr/queues/roster.py), with an injected clock."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ivr.core.config import AgentConfig, QueueConfig
from ivr.queues import AgentState, CallDistributor, Offer, QueueError
from ivr.queues.roster import agent_status, apply_roster


class Clock:
    """Test clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _agent(agent_id: str, *queues: str, skills: tuple[str, ...] = ()) -> AgentConfig:
    return AgentConfig(id=agent_id, sip_uri=f"sip:{agent_id}@x", queues=queues, skills=skills)


def _offers(decisions: Sequence[object]) -> list[tuple[str, str]]:
    return [(d.entry.call_id, d.agent.id) for d in decisions if isinstance(d, Offer)]


def test_a_new_agent_starts_logged_out_and_takes_waiting_callers_once_logged_in() -> None:
    clock = Clock()
    q = QueueConfig(name="support", overflow="", wrap_up=5)
    d = CallDistributor([q], [_agent("ann", "support")], clock=clock)
    d.login("ann")
    d.enqueue("c1", "support")  # ann rings
    d.enqueue("c2", "support")  # waits: nobody else
    out = apply_roster(d, [q], [_agent("ann", "support"), _agent("bob", "support")])
    assert out == [] and d.agent_state("bob") is AgentState.OFFLINE  # bob logs in on his desk
    assert d.members("support") == ["ann", "bob"] and d.agent_state("ann") is AgentState.RINGING
    assert _offers(d.login("bob")) == [("c2", "bob")]


def test_new_skills_apply_at_once_and_an_available_agent_gets_the_caller_who_needed_them() -> None:
    clock = Clock()
    q = QueueConfig(name="support", overflow="")
    d = CallDistributor([q], [_agent("ann", "support")], clock=clock)
    d.login("ann")
    d.enqueue("c1", "support", skills=("de",))
    assert d.position("c1") == 1  # nobody speaks German yet
    out = apply_roster(d, [q], [_agent("ann", "support", skills=("de",))])
    assert _offers(out) == [("c1", "ann")]


def test_an_agent_taken_off_the_roster_logs_out_after_the_call_they_are_on() -> None:
    clock = Clock()
    q = QueueConfig(name="support", overflow="", wrap_up=0)
    d = CallDistributor([q], [_agent("ann", "support"), _agent("bob", "support")], clock=clock)
    d.login("ann")
    d.enqueue("c1", "support")
    d.agent_answered("c1", "ann")
    apply_roster(d, [q], [_agent("bob", "support")])
    assert d.agent_state("ann") is AgentState.BUSY and d.members("support") == ["bob"]
    d.call_ended("c1")
    assert d.agent_state("ann") is AgentState.OFFLINE
    assert agent_status(d, "ann").call_id is None


def test_queue_settings_change_for_callers_already_waiting_and_a_new_queue_is_served() -> None:
    clock = Clock()
    q = QueueConfig(name="support", overflow="voicemail", max_wait=300, overflow_when_no_agents=False)
    d = CallDistributor([q], [_agent("ann", "support")], clock=clock)
    d.enqueue("c1", "support")  # nobody logged in: waits
    shorter = QueueConfig(name="support", overflow="voicemail", max_wait=10, overflow_when_no_agents=False)
    sales = QueueConfig(name="sales", overflow="")
    apply_roster(d, [shorter, sales], [_agent("ann", "support", "sales")])
    assert d.next_deadline() == pytest.approx(1010.0)  # the new max_wait counts from when c1 joined
    assert d.members("sales") == ["ann"] and d.mode("sales") == "open"
    clock.now = 1011.0
    assert [type(x).__name__ for x in d.tick()] == ["Overflow"]


def test_a_roster_the_acd_would_refuse_changes_nothing() -> None:
    q = QueueConfig(name="support", overflow="")
    d = CallDistributor([q], [_agent("ann", "support")], clock=Clock())
    with pytest.raises(QueueError, match="unknown queue"):
        apply_roster(d, [q], [_agent("ann", "nowhere")])
    assert d.members("support") == ["ann"]
