"""FlowCall and a sensitive step's speech that is decoded only after the step ended (the caller keyed it)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from flows import FlowRunner
from flows.loader import load_flow_text
from ivr.core.events import DtmfDigit, Event, Hangup, Transcript
from ivr.session.flow_call import FlowCall
from ivr.session.services import CallServices
from tests.test_flow_call_transfer import Leg, Voice

FLOW = """flow: pay
title: sensitive then menu
start: card
defaults:
  timeout: 30
  on_failure: bye
steps:
  card:
    kind: collect
    sensitive: true
    slot: digits
    min_length: 4
    max_length: 4
    into: card
    prompt: Your card number?
    next: menu
  menu:
    kind: menu
    prompt: Say help or press 1.
    options:
      - {keys: "1", phrases: [help, four one one one], next: bye}
  bye:
    kind: hangup
    text: Goodbye.
    reason: done
"""


class Journal:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def event(self, call: FlowCall, event: Event) -> None:
        self.events.append(event)


async def test_late_speech_of_a_finished_sensitive_step_is_dropped_unlogged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    leg = Leg()
    journal = Journal()
    services = CallServices(voice=Voice(), sources={}, voicemail_dir=tmp_path, journal=journal)
    call = FlowCall(leg, FlowRunner(load_flow_text(FLOW)), services)  # type: ignore[arg-type]
    task = asyncio.create_task(call.run())
    caplog.set_level(logging.INFO)
    await asyncio.sleep(0.1)
    for digit in "4111":
        leg._events.put(DtmfDigit(leg.call_id, digit=digit))
    await asyncio.sleep(0.1)
    assert call.state is not None and call.state.step == "menu"  # the keys ended the sensitive step
    # the caller had also spoken the number; its decode arrives now, during the menu (as CallSpeech sends it)
    call.inbox.put(Transcript(leg.call_id, text="four one one one", final=True, confidence=0.9, sensitive=True))
    await asyncio.sleep(0.1)
    assert call.state.step == "menu"  # not taken as the menu's answer (it would match a phrase)
    assert "4111" not in caplog.text and "four one one one" not in caplog.text
    assert "speech from a finished sensitive step dropped" in caplog.text
    leg._events.put(DtmfDigit(leg.call_id, digit="1"))
    await asyncio.wait_for(task, 5)
    assert leg.ended
    assert call.state.variables.get("card") == "4111"  # the flow variable kept the real number
    assert not any(isinstance(e, Hangup) and "4111" in str(e) for e in journal.events)
