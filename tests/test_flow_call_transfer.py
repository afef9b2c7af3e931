"""FlowCall hands a transfer over and stays out of its way until the transfer ends the call."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flows import FlowRunner
from flows.loader import load_flow_text
from ivr.core.eventqueue import EventQueue
from ivr.core.events import AudioChunk, Event, Hangup, PlaybackDone, TransferRequested
from ivr.session.flow_call import FlowCall
from ivr.session.services import CallServices

FLOW = """flow: t
title: transfer test
start: {start}
steps:{hello}
  to_queue:
    kind: transfer
    queue: support
    reason: test
"""
HELLO = """
  hello:
    kind: say
    text: Hello.
    next: to_queue"""


def _runner(start: str) -> FlowRunner:
    return FlowRunner(load_flow_text(FLOW.format(start=start, hello=HELLO if start == "hello" else "")))


class Leg:
    """A call leg in memory: playback 'plays' for a few milliseconds, hangup ends it."""

    def __init__(self) -> None:
        self.call_id, self.caller, self.callee = "c1", "sip:555@x", "sip:ivr@x"
        self.ended = False
        self.played: list[str] = []
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
        asyncio.get_running_loop().call_later(0.01, self._events.put, PlaybackDone(self.call_id, playback_id=pb))
        return pb

    async def stop_playback(self) -> None:
        pass

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


class Handler:
    """Plays 'music' on the leg (playbacks the flow did not start) for a while, then returns."""

    def __init__(self) -> None:
        self.requests: list[TransferRequested] = []
        self.leg_up_at_end: bool | None = None

    async def transfer(self, call: FlowCall, request: TransferRequested) -> None:
        self.requests.append(request)
        for _ in range(5):
            await call.leg.play(b"\x00\x00" * 160, 16000)
            await asyncio.sleep(0.03)
        self.leg_up_at_end = not getattr(call.leg, "ended", False)


@pytest.mark.parametrize("start", ["hello", "to_queue"])  # with a prompt first, and a transfer straight away
async def test_the_transfer_runs_to_its_end_before_the_call_is_hung_up(start: str, tmp_path: Path) -> None:
    runner = _runner(start)
    handler = Handler()
    leg = Leg()
    services = CallServices(voice=Voice(), sources={}, voicemail_dir=tmp_path, transfer=handler)
    call = FlowCall(leg, runner, services)  # type: ignore[arg-type]
    await asyncio.wait_for(call.run(), 5)
    assert [r.queue for r in handler.requests] == ["support"]
    assert handler.leg_up_at_end is True  # neither the music's playbacks nor the flow's end cut it short
    assert leg.ended


async def test_a_caller_hanging_up_cancels_the_transfer(tmp_path: Path) -> None:
    runner = _runner("to_queue")
    cancelled = asyncio.Event()

    class Waiting:
        async def transfer(self, call: FlowCall, request: TransferRequested) -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.set()
                raise

    leg = Leg()
    services = CallServices(voice=Voice(), sources={}, voicemail_dir=tmp_path, transfer=Waiting())
    call = FlowCall(leg, runner, services)  # type: ignore[arg-type]
    task = asyncio.create_task(call.run())
    await asyncio.sleep(0.05)
    leg.ended = True
    leg._events.put(Hangup(leg.call_id, by="caller"))
    await asyncio.wait_for(task, 5)
    assert cancelled.is_set()
