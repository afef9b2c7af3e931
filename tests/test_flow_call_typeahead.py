"""FlowCall and the typeahead rule (docs/flows.md, "Keys and typeahead"): which prompt a key may cut, and when."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from flows import FlowRunner
from flows.loader import load_flow_text
from ivr.core.eventqueue import EventQueue
from ivr.core.events import AudioChunk, DtmfDigit, Event, Hangup, IntentDetected, PlaybackDone, Say
from ivr.session.flow_call import FlowCall
from ivr.session.services import CallServices

FLOW = """flow: keys
title: typeahead
start: greeting
defaults: {timeout: 30, on_failure: bye}
variables: {order: {status: unknown}}
steps:
  greeting:
    kind: say
    text: Welcome.
    barge_in: false
    next: number
  number:
    kind: collect
    slot: digits
    length: 5
    into: number
    prompt: Your order number?
    next: find
  find:
    kind: lookup
    source: orders
    key: "{number}"
    into: order
    next: answer
    not_found: answer
  answer:
    kind: say
    text: Order {number:digits} is {order.status}.
    next: more
  more:
    kind: menu
    prompt: Press 1 to finish.
    options:
      - {keys: "1", next: bye}
  bye:
    kind: hangup
    text: Bye.
    reason: done
"""
PROMPT_SECONDS = 0.3


class Leg:
    """A call leg in memory whose prompts play for PROMPT_SECONDS each, one after another; barge-in cuts them."""

    def __init__(self) -> None:
        self.call_id, self.caller, self.callee = "c1", "sip:555@x", "sip:ivr@x"
        self.ended = False
        self.played: list[str] = []  # every playback id, in play order
        self.queue: list[str] = []  # those still to finish, the one playing first
        self.cut: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._events = EventQueue()

    async def answer(self) -> None:
        pass

    async def events(self) -> AsyncIterator[Event]:
        while True:
            event = await self._events.get()
            yield event
            if isinstance(event, Hangup):
                return

    async def play(self, pcm: bytes, rate: int) -> str:
        pb = uuid.uuid4().hex[:8]
        self.played.append(pb)
        self.queue.append(pb)
        if len(self.queue) == 1:
            self._start()
        return pb

    def _start(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(PROMPT_SECONDS, self._done)

    def _done(self) -> None:
        self._events.put(PlaybackDone(self.call_id, playback_id=self.queue.pop(0)))
        if self.queue:
            self._start()

    async def stop_playback(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.cut += self.queue
        for pb in self.queue:
            self._events.put(PlaybackDone(self.call_id, playback_id=pb))
        self.queue = []

    def key(self, digits: str) -> None:
        for d in digits:
            self._events.put(DtmfDigit(self.call_id, digit=d))

    async def hangup(self, reason: str = "") -> None:
        if not self.ended:
            self.ended = True
            self._events.put(Hangup(self.call_id, by="ivr"))

    async def audio(self, rate: int = 16000) -> AsyncIterator[AudioChunk]:
        return
        yield  # pragma: no cover


class Voice:
    async def say(self, text: str, rate: int) -> bytes:
        return b"\x00\x00" * 160


class Journal:
    """What the call said (in play order) and what it understood."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.intents: list[IntentDetected] = []

    def event(self, call: FlowCall, event: Event) -> None:
        if isinstance(event, Say):
            self.said.append(event.text)
        elif isinstance(event, IntentDetected):
            self.intents.append(event)


class SlowOrders:
    """An order store that answers only when the test lets it."""

    def __init__(self) -> None:
        self.go = asyncio.Event()

    async def fetch(self, key: str) -> Mapping[str, Any] | None:
        await self.go.wait()
        return {"status": "shipped"}


def start(tmp_path: Path, orders: Any = None) -> tuple[Leg, Journal, FlowCall, asyncio.Task[Any]]:
    leg, journal = Leg(), Journal()
    sources = {"orders": orders or {"24680": {"status": "shipped"}}}
    services = CallServices(voice=Voice(), sources=sources, voicemail_dir=tmp_path, journal=journal)
    call = FlowCall(leg, FlowRunner(load_flow_text(FLOW)), services)  # type: ignore[arg-type]
    return leg, journal, call, asyncio.create_task(call.run())


def cut(leg: Leg, journal: Journal) -> list[str]:
    """The prompts barge-in cut (FlowCall journals each Say just before it plays it)."""
    return [journal.said[i] for i, pb in enumerate(leg.played) if pb in leg.cut]


async def until(predicate: Any, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_a_hash_after_a_complete_number_does_not_cut_the_answer(tmp_path: Path) -> None:
    leg, journal, call, task = start(tmp_path)
    await until(lambda: "Your order number?" in journal.said)
    leg.key("24680")
    await until(lambda: "Order two four six eight zero is shipped." in journal.said)
    leg.key("#")
    await asyncio.sleep(0.05)
    assert call.state is not None and call.state.step == "more" and not call.state.swallows("#")
    await until(lambda: not leg.queue)  # the answer and the menu prompt played to their end
    assert cut(leg, journal) == ["Your order number?"]  # only the prompt the digits answered
    assert [i.step for i in journal.intents] == ["number"]  # the '#' was no miss at the menu
    leg.key("1")
    await asyncio.wait_for(task, 3)
    assert journal.said[-1] == "Bye."


async def test_keys_typed_over_an_uninterruptible_prompt_wait_for_it_to_end(tmp_path: Path) -> None:
    leg, journal, call, task = start(tmp_path)
    await until(lambda: leg.played)
    leg.key("24680")  # over "Welcome." (barge_in: false)
    await asyncio.sleep(PROMPT_SECONDS / 2)
    assert call.state is not None and call.state.step == "number" and call.state.digits == ""  # held, not lost
    await until(lambda: "Order two four six eight zero is shipped." in journal.said)
    # Then they went to the number step, and cut its prompt as keys typed at that moment would.
    assert cut(leg, journal) == ["Your order number?"] and journal.said[0] == "Welcome."
    leg.key("1")
    await asyncio.wait_for(task, 3)


async def test_keys_typed_while_no_step_listens_reach_the_next_one(tmp_path: Path) -> None:
    orders = SlowOrders()
    leg, journal, call, task = start(tmp_path, orders)
    await until(lambda: "Your order number?" in journal.said)
    leg.key("24680")
    await until(lambda: call.state is not None and call.state.step == "find")
    leg.key("1")  # typed while the lookup runs: no step listens
    await asyncio.sleep(0.05)
    assert call.state is not None and call.state.step == "find" and call.listen is None
    orders.go.set()
    await asyncio.wait_for(task, 3)
    assert [(i.step, i.text) for i in journal.intents] == [("number", "24680"), ("more", "1")]
    assert journal.said[-1] == "Bye."


async def test_keys_after_the_flow_is_over_are_dropped(tmp_path: Path) -> None:
    leg, journal, call, task = start(tmp_path)
    await until(lambda: "Your order number?" in journal.said)
    leg.key("24680")
    await until(lambda: "Press 1 to finish." in journal.said)
    leg.key("1")
    await until(lambda: "Bye." in journal.said)
    leg.key("1")  # over the goodbye: no step will read it
    await asyncio.wait_for(task, 3)
    assert "Bye." not in cut(leg, journal) and len(call._typeahead) == 0
