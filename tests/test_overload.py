"""The overload rule's pure logic: decode capacity, predicted waits, hysteresis, admission, keypad notices."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest

from flows import FlowRunner, load_flow
from ivr.core.config import OverloadConfig, load_config
from ivr.core.errors import ConfigError
from ivr.core.events import Listen
from ivr.session.overload import DecodeLoad, Hysteresis, OverloadGuard
from ivr.session.overload_call import keypad_listen, keypad_prompt
from tests.conftest import REPO


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_decode_load_counts_slots_and_queue_and_measures_decode_time() -> None:
    clock = Clock()
    load = DecodeLoad(slots=2, decode_seconds=0.8, clock=clock)
    assert load.queue_wait() == 0.0 and load.predicted_seconds() == pytest.approx(0.8)
    tokens = [load.begin() for _ in range(5)]
    assert (load.in_flight, load.queued) == (2, 3)
    # a sixth decode waits for 4 of the 5 ahead to finish, two at a time: two decode times
    assert load.queue_wait() == pytest.approx(1.6)
    assert load.predicted_seconds() == pytest.approx(2.4)
    clock.now += 1.8
    # no decode has finished, but two have run 1.8 s already: the prediction does not promise 0.8 s a decode
    assert load.decode_seconds == 0.8 and load.expected_seconds() == pytest.approx(1.8)
    assert load.predicted_seconds() == pytest.approx(2 * 1.8 + 1.8)
    # the first decode took 1.8 s: the measured average moves toward it
    load.end(tokens[0])
    assert load.decode_seconds == pytest.approx(0.8 + 0.2 * (1.8 - 0.8))
    assert (load.in_flight, load.queued) == (2, 2)
    # the third decode got its slot only now: its time counts from here, not from when it was asked for
    clock.now += 0.5
    load.end(tokens[2])
    assert load.decode_seconds == pytest.approx(1.0 + 0.2 * (0.5 - 1.0))
    load.end(tokens[1], completed=False)  # cancelled (the caller spoke on): not measured
    assert load.finished == 2
    for t in tokens[3:]:
        load.end(t)
    assert (load.in_flight, load.queued, load.queue_wait()) == (0, 0, 0.0)


def test_hysteresis_needs_the_value_held_to_switch_on_and_off() -> None:
    h = Hysteresis(high=2.0, low=0.0, enter_s=1.0, exit_s=5.0)
    assert not h.observe(0.0, 2.5)
    assert not h.observe(0.5, 1.0)  # a dip resets the timer
    assert not h.observe(0.6, 3.0)
    assert not h.observe(1.5)  # held 0.9 s
    assert h.observe(1.6)  # held 1.0 s: on
    assert h.observe(2.0, 0.0)  # the backlog cleared, but not for long enough
    assert h.observe(6.9, 0.0)
    assert h.observe(7.0, 1.0)  # it came back before 5 s were up: the clear timer restarts
    assert h.observe(7.5, 0.0)
    assert h.observe(12.4)
    assert not h.observe(12.5)  # 5 s clear: off


def test_guard_capacity_from_decode_time_or_config() -> None:
    clock = Clock()
    auto = OverloadGuard(OverloadConfig(decode_slots=2, decode_seconds=0.8, turn_interval_seconds=8.0), 2, clock)
    # 2 slots / 0.8 s = 2.5 decodes a second, half of it planned, a turn every 8 s: 10 calls
    assert auto.call_capacity() == 10
    # planned capacity: calls that do not speak are not refused while no decode waits for a slot ...
    assert auto.admit(10) and auto.admit(50) and auto.calls_refused == 0
    tokens = [auto.load.begin() for _ in range(3)]
    assert auto.admit(9) and not auto.admit(10) and auto.calls_refused == 1  # ... but are once one does
    for t in tokens:
        auto.load.end(t, completed=False)
    auto.load.decode_seconds = 4.0  # a slow engine on a busy machine: never fewer calls than slots
    assert auto.call_capacity() == 2
    fixed = OverloadGuard(OverloadConfig(max_calls=4, retry_after_seconds=7), 2, clock)
    assert [fixed.admit(n) for n in (0, 3, 4, 9)] == [True, True, False, False]
    assert fixed.calls_refused == 2 and fixed.snapshot().calls_refused == 2
    one_core = OverloadGuard(OverloadConfig(), asr_workers=8, clock=clock)
    assert 1 <= one_core.load.slots <= 8


def test_guard_acknowledges_a_reply_predicted_late() -> None:
    clock = Clock()
    guard = OverloadGuard(OverloadConfig(decode_slots=2, decode_seconds=0.5, ack_after_ms=1500), 2, clock)
    assert not guard.ack_now(waited=0.5)  # 0.5 s so far + one 0.5 s decode
    for _ in range(4):
        guard.load.begin()
    # two decodes ahead of a free slot: 1.0 s of queue + 0.5 s decode + the 0.5 s already waited
    assert guard.ack_now(waited=0.5)
    assert not guard.ack_now(waited=0.0) and guard.ack_now(waited=0.01)


def test_keypad_fallback_follows_the_backlog_with_hysteresis() -> None:
    clock = Clock()
    cfg = OverloadConfig(decode_slots=1, decode_seconds=1.0, keypad_after_ms=2000, keypad_enter_seconds=1.0,
                         keypad_until_ms=0, keypad_hold_seconds=5.0)  # fmt: skip
    guard = OverloadGuard(cfg, 1, clock)
    runner = FlowRunner(load_flow(REPO / "flows" / "acme_retail.yaml"))
    listen = Listen("c1", timer="t", speech=True, dtmf=True)
    tokens = [guard.load.begin() for _ in range(3)]  # a new decode would wait 3 s
    assert keypad_listen(guard, runner, "main_menu", listen) == (listen, "")  # not held long enough yet
    clock.now += 1.0
    keyed, notice = keypad_listen(guard, runner, "main_menu", listen)
    assert keyed == dataclasses.replace(listen, speech=False)
    assert notice == ("Please use your keypad. Press 1 for order status, 2 for returns, 3 for store hours, "
                      "or 0 for an agent.")  # fmt: skip
    assert guard.keypad_fallbacks == 1
    speech_only = dataclasses.replace(listen, dtmf=False)  # a step with no keys keeps speech
    assert keypad_listen(guard, runner, "main_menu", speech_only) == (speech_only, "")
    for t in tokens:
        clock.now += 1.0
        guard.load.end(t)
    clock.now += 4.9
    assert keypad_listen(guard, runner, "main_menu", listen)[1]  # clear for 4.9 s: still keys
    clock.now += 0.1
    assert keypad_listen(guard, runner, "main_menu", listen) == (listen, "")
    assert guard.keypad_fallbacks == 2


def test_keypad_prompt_without_keyed_choices_is_the_notice() -> None:
    runner = FlowRunner(load_flow(REPO / "flows" / "acme_retail.yaml"))
    assert keypad_prompt("Please use your keypad.", runner, "ask_order_number") == "Please use your keypad."


def test_config_section_and_validation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = load_config(REPO / "config.toml", env={"IVR_OVERLOAD__MAX_CALLS": "4"})
    assert cfg.overload.max_calls == 4 and cfg.overload.ack_after_ms == 1500
    with pytest.raises(ConfigError, match="keypad_until_ms"):
        OverloadConfig(keypad_after_ms=1000, keypad_until_ms=2000)


def test_overload_numbers_are_exported_as_metrics() -> None:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from ivr.session.floor import FloorStats
    from ivr.web.metrics import metrics_registry

    clock = Clock()
    guard = OverloadGuard(OverloadConfig(decode_slots=2, decode_seconds=0.5, max_calls=3), 2, clock)
    for _ in range(5):
        guard.load.begin()
    guard.admit(3)
    guard.acknowledgements, guard.keypad_fallbacks = 4, 1
    floor = FloorStats(clock=clock)
    floor.overload = guard
    text = generate_latest(metrics_registry(lambda: floor)).decode()
    got = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert got["ivr_decode_slots"] == 2 and got["ivr_call_capacity"] == 3
    assert (got["ivr_decodes_in_flight"], got["ivr_decodes_queued"]) == (2, 3)
    assert got["ivr_predicted_reply_seconds"] == pytest.approx(2 * 0.5 + 0.5)  # 4 ahead of a free slot, 2 at a time
    assert got["ivr_calls_refused_total"] == 1
    assert got["ivr_acknowledgements_total"] == 4 and got["ivr_keypad_fallbacks_total"] == 1
    assert got["ivr_keypad_only"] == 0  # not held for keypad_enter_seconds yet


SLOW_FLOW = """flow: slow
title: a decode slower than the no-input timeout
start: menu
defaults: {timeout: 0.5, on_failure: bye, no_input_prompt: "Sorry, I didn't hear anything."}
steps:
  menu:
    kind: menu
    prompt: Say sales or press 1.
    options:
      - {keys: "1", phrases: [sales], next: bye}
  bye:
    kind: hangup
    text: Bye.
    reason: done
"""


async def test_a_decode_slower_than_the_no_input_timeout_is_no_no_input(tmp_path: Path) -> None:
    from flows.loader import load_flow_text
    from ivr.core.events import SpeechEnded, SpeechStarted, Transcript
    from ivr.session.flow_call import FlowCall
    from ivr.session.services import CallServices
    from tests.test_flow_call_typeahead import Journal, Leg, Voice, until

    leg, journal = Leg(), Journal()
    services = CallServices(voice=Voice(), sources={}, voicemail_dir=tmp_path, journal=journal)
    call = FlowCall(leg, FlowRunner(load_flow_text(SLOW_FLOW)), services)  # type: ignore[arg-type]
    task = asyncio.create_task(call.run())
    await until(lambda: "Say sales or press 1." in journal.said)
    call.inbox.put(SpeechStarted(call.call_id))  # the caller cuts the prompt off: its PlaybackDone follows
    await asyncio.sleep(0.1)
    call.inbox.put(SpeechEnded(call.call_id, at=time.monotonic()))
    await asyncio.sleep(1.2)  # the decode waits in a saturated pool, longer than the 0.5 s no-input timeout
    assert "Sorry, I didn't hear anything." not in journal.said, journal.said
    call.inbox.put(Transcript(call.call_id, text="sales", final=True, confidence=0.9))
    await asyncio.wait_for(task, 3)
    assert journal.said == ["Say sales or press 1.", "Bye."]


async def test_the_watchdog_acknowledges_a_late_reply_repeats_it_and_stops_at_the_reply() -> None:
    from types import SimpleNamespace

    from ivr.core.events import Say, SpeechEnded
    from ivr.session.overload_call import OverloadWatch
    from tests.test_flow_call_typeahead import Leg, Voice, until

    guard = OverloadGuard(OverloadConfig(decode_slots=1, decode_seconds=0.05, ack_after_ms=300), 1)
    watch = OverloadWatch(guard, Voice())
    leg = Leg()
    call = SimpleNamespace(call_id="c1", leg=leg, listen=Listen("c1", timer="t"))
    watch.event(call, SpeechEnded("c1", at=time.monotonic()))
    await asyncio.sleep(0.2)
    assert leg.played == []  # a reply is predicted in time: the watchdog waits
    await until(lambda: len(leg.played) == 1, timeout=1)  # 300 ms and no reply: "One moment."
    await until(lambda: len(leg.played) == 2, timeout=1)  # the wait goes on: again, after the first one
    watch.event(call, Say("c1", text="Here is your answer."))  # the reply: no more
    await asyncio.sleep(0.5)
    assert len(leg.played) == 2 and guard.acknowledgements == 2
    # a backlog that will make the reply late: said at once, at the end of speech
    for _ in range(10):
        guard.load.begin()
    watch.event(call, SpeechEnded("c1", at=time.monotonic()))
    await until(lambda: len(leg.played) == 3, timeout=0.1)
    watch.event(call, Say("c1", text="Here is your answer."))
    call.listen = None
    watch.event(call, SpeechEnded("c1", at=time.monotonic()))  # speech while the flow does not listen: nothing
    await asyncio.sleep(0.5)
    assert len(leg.played) == 3 and guard.acknowledgements == 3
