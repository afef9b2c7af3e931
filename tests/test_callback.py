"""Callback logic with an injected clock: when it is offered, which numbers pass, the entry keeping its place."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ivr.core.config import CallbacksConfig
from ivr.queues import Announce, CancelOffer, Connected, Offer, Overflow, QueueError
from ivr.queues.callback import (
    CallbackDistributor,
    CallbackHeld,
    callback_number,
    callback_target,
    next_attempt,
    offers_callback,
    validate_callbacks,
)
from tests.test_queues import Clock, _a, _q, of, offers


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_offered_only_when_the_estimated_wait_is_known_and_above_the_threshold() -> None:
    q = _q(callback_threshold=60)
    assert offers_callback(61.0, q)
    assert not offers_callback(60.0, q) and not offers_callback(5.0, q)
    assert not offers_callback(None, q)  # no agent staffed: the wait is unknown
    assert not offers_callback(10_000.0, _q())  # threshold 0: never


@pytest.mark.parametrize(
    ("text", "ok"),
    [("5551234", True), ("+4930123456", True), (" 0123456789 ", True), ("123", False), ("1" * 16, False),
     ("555-1234", False), ("caller", False), ("", False), ("+", False), ("٥٥٥١٢٣٤", False), ("55512#4", False)],
)  # fmt: skip
def test_a_number_is_digits_only_with_a_sane_length(text: str, ok: bool) -> None:
    number = callback_number(text, CallbacksConfig())
    assert (number is not None) is ok
    if ok:
        assert number == text.strip()


def test_the_target_is_the_route_or_the_trunk() -> None:
    assert callback_target("5551234", CallbacksConfig(route="sip:{number}@127.0.0.1:5099"), "") == (
        "sip:5551234@127.0.0.1:5099"
    )
    assert callback_target("5551234", CallbacksConfig(), "pbx.example.com") == "sip:5551234@pbx.example.com"
    with pytest.raises(QueueError, match=r"\[callbacks\] route"):
        callback_target("5551234", CallbacksConfig(), "")


def test_attempts_and_interval() -> None:
    q = _q(callback_attempts=3, callback_interval=90)
    assert next_attempt(1, q, 100.0) == 190.0
    assert next_attempt(2, q, 100.0) == 190.0
    assert next_attempt(3, q, 100.0) is None


def test_bad_settings_are_refused_with_the_key_to_fix() -> None:
    with pytest.raises(QueueError, match="callback_attempts"):
        validate_callbacks([_q(callback_attempts=0)], CallbacksConfig())
    with pytest.raises(QueueError, match="min_digits"):
        validate_callbacks([], CallbacksConfig(min_digits=9, max_digits=8))
    with pytest.raises(QueueError, match="route"):
        validate_callbacks([], CallbacksConfig(route="sip:callback@pbx"))
    validate_callbacks([_q(callback_threshold=30)], CallbacksConfig(route="sip:{number}@pbx"))


def test_a_callback_keeps_its_place_and_is_offered_like_a_caller(clock: Clock) -> None:
    d = CallbackDistributor([_q(announce_interval=30)], [_a("ann", "sales")], clock=clock)
    d.login("ann")
    d.enqueue("busy", "sales")  # Ann takes this one
    d.agent_answered("busy", "ann")
    clock.advance(1)
    d.enqueue("first", "sales")
    clock.advance(1)
    d.enqueue("second", "sales")
    out = d.hold_for_callback("first", "5551234")
    (held,) = of(CallbackHeld, out)
    assert held.entry.callback == "5551234" and held.wait == 1.0
    assert held.as_record() is not None and held.as_record()["detail"] == "number=5551234"  # type: ignore[index]
    assert d.position("first") == 1 and d.position("second") == 2
    clock.advance(60)
    assert [a.entry.call_id for a in of(Announce, d.tick())] == ["second"]  # nobody to announce to
    out = d.call_ended("busy")  # no wrap-up: the callback, first in line, is offered at once
    assert offers(out) == [("first", "ann")]
    (offer,) = of(Offer, out)
    assert offer.entry.callback == "5551234"
    (connected,) = of(Connected, d.agent_answered("first", "ann"))
    assert connected.entry.callback == "5551234"


def test_a_callback_never_overflows(clock: Clock) -> None:
    q = _q(max_wait=30, overflow="voicemail", overflow_when_no_agents=True)
    d = CallbackDistributor([q], [_a("ann", "sales")], clock=clock)
    d.login("ann", ready=False)
    d.enqueue("c1", "sales")
    d.hold_for_callback("c1", "5551234")
    clock.advance(31)
    assert not of(Overflow, d.tick())
    assert d.logout("ann") == [] or not of(Overflow, d.logout("ann"))
    assert d.position("c1") == 1
    deadline = d.next_deadline()
    assert deadline is not None and deadline > clock.now  # its max-wait clock restarted: no busy loop


def test_accepting_while_an_agent_rings_frees_the_agent_and_offers_the_callback(clock: Clock) -> None:
    d = CallbackDistributor([_q()], [_a("ann", "sales")], clock=clock)
    d.login("ann")
    assert offers(d.enqueue("c1", "sales")) == [("c1", "ann")]
    out = d.hold_for_callback("c1", "5551234")
    assert [c.reason for c in of(CancelOffer, out)] == ["the caller chose a callback"]
    assert offers(out) == [("c1", "ann")]  # the same free agent, now for the callback
    assert of(Offer, out)[0].entry.callback == "5551234"


def test_a_failed_attempt_is_requeued_in_its_first_place(clock: Clock) -> None:
    d = CallbackDistributor([_q()], [_a("ann", "sales")], clock=clock)
    d.login("ann", ready=False)
    d.enqueue("c1", "sales")
    d.hold_for_callback("c1", "5551234")
    entry = d.waiting("sales")[0]
    d.set_ready("ann")
    d.agent_answered("c1", "ann")
    d.call_ended("c1")  # the caller did not answer
    clock.advance(5)
    d.set_not_ready("ann")
    d.enqueue("later", "sales")
    d.requeue_callback(entry)
    assert [e.call_id for e in d.waiting("sales")] == ["c1", "later"]
    assert d.callbacks("sales") == [entry]
    with pytest.raises(QueueError, match="already queued"):
        d.requeue_callback(entry)
    with pytest.raises(QueueError, match="no callback number"):
        d.requeue_callback(replace(entry, call_id="x", callback=""))
    with pytest.raises(QueueError, match="not waiting"):
        d.hold_for_callback("nobody", "5551234")
