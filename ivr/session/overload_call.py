"""What a caller hears when recognition cannot keep up: "One moment." instead of silence, keys instead of speech.

`OverloadWatch` is a CallJournal (it sees every call event, like FloorStats): at the end of a caller's speech
in a turn the flow listens to, it plays the acknowledgement at once if the decode backlog predicts a late
reply, else arms a watchdog that plays it when `ack_after_ms` have passed with no reply audio, and again
each `ack_after_ms` after it while the wait goes on. The reply's first prompt, new speech, a key, a
noise-only turn or the hangup disarm it. `keypad_listen` turns a speech
step that also takes keys into a keys-only step while the guard says recognition stays saturated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

from ivr.core.events import DtmfDigit, Event, Hangup, Listen, Play, Say, SpeechEnded, SpeechStarted, Transcript
from ivr.session.overload import OverloadGuard

if TYPE_CHECKING:
    from flows import FlowRunner

log = logging.getLogger(__name__)

RATE = 16000  # the rate FlowCall plays prompts at


class OverloadWatch:
    """A CallJournal that covers a late reply with the acknowledgement (one per caller turn)."""

    def __init__(self, guard: OverloadGuard, voice: Any) -> None:
        self.guard = guard
        self.voice = voice
        self._armed: dict[str, asyncio.TimerHandle] = {}
        self._waiting: set[str] = set()  # calls whose caller has spoken and waits for the reply
        self._pcm: bytes | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def event(self, call: Any, event: Event) -> None:
        """CallJournal: arm at the end of speech in a listening speech turn, disarm on what ends the wait."""
        call_id = call.call_id
        if isinstance(event, SpeechEnded):
            listen = call.listen
            if listen is None or not listen.speech:
                return
            self._disarm(call_id)
            self._waiting.add(call_id)
            waited = max(0.0, time.monotonic() - event.at)  # event.at is on the monotonic clock of the call
            if self.guard.ack_now(waited):
                self._acknowledge(call, "predicted")
            else:
                self._arm(call, self.guard.config.ack_after_ms / 1000 - waited, "watchdog")
        elif isinstance(event, Say | Play | SpeechStarted | DtmfDigit | Hangup):
            self._disarm(call_id)  # the reply is about to play, or the caller moved on
        elif isinstance(event, Transcript) and event.final and not event.text.strip():
            self._disarm(call_id)  # noise, not words: the flow keeps waiting and says nothing

    def _arm(self, call: Any, delay: float, why: str) -> None:
        loop = asyncio.get_running_loop()
        self._armed[call.call_id] = loop.call_later(max(0.0, delay), self._acknowledge, call, why)

    def _disarm(self, call_id: str) -> None:
        self._waiting.discard(call_id)
        handle = self._armed.pop(call_id, None)
        if handle is not None:
            handle.cancel()

    def _acknowledge(self, call: Any, why: str) -> None:
        self._armed.pop(call.call_id, None)
        if call.call_id not in self._waiting or getattr(call.leg, "ended", False):
            return
        self.guard.acknowledgements += 1
        task = asyncio.create_task(self._play(call, why))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _play(self, call: Any, why: str) -> None:
        text = self.guard.config.ack_text
        asked = asyncio.get_running_loop().time()  # the next one is timed from here: a busy loop must not widen the gap
        try:
            if self._pcm is None:  # pre-synthesized at start-up: a cache hit, then kept here (no disk read each time)
                self._pcm = await self.voice.say(text, RATE)
            pcm = self._pcm
            await call.leg.play(pcm, RATE)  # not a flow prompt: the reply queues behind it on the leg
        except Exception as exc:  # the caller hung up meanwhile, or the worker went away
            log.info("call %s: acknowledgement not played: %r", call.call_id, exc)
            return
        load = self.guard.load
        log.info("call %s says %r (%s: %d decodes running, %d queued, %.2f s a decode)", call.call_id, text, why,
                 load.in_flight, load.queued, load.expected_seconds())  # fmt: skip
        if call.call_id in self._waiting:  # a long wait is never silent for long: say it again if it goes on
            due = asked + len(pcm) / 2 / RATE + self.guard.config.ack_after_ms / 1000
            self._arm(call, due - asyncio.get_running_loop().time(), "still waiting")


def keypad_listen(guard: OverloadGuard, runner: FlowRunner, step: str, listen: Listen) -> tuple[Listen, str]:
    """While recognition stays saturated: the step as keys only, and what to tell the caller ('' if unchanged)."""
    if not (listen.speech and listen.dtmf) or not guard.keypad_only():
        return listen, ""
    guard.keypad_fallbacks += 1
    return dataclasses.replace(listen, speech=False), keypad_prompt(guard.config.keypad_text, runner, step)


def keypad_prompt(text: str, runner: FlowRunner, step_id: str) -> str:
    """The keypad notice plus the step's keys ("Press 1 for order status, or 0 for an agent.")."""
    step = runner.flow.steps.get(step_id)
    keyed = [(c.keys[0], _label(runner, c.intent or c.value or c.next)) for c in getattr(step, "choices", ()) if c.keys]
    if not keyed:
        return text
    parts = [f"{key} for {label}" for key, label in keyed]
    listing = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + ", or " + parts[-1]
    return f"{text} Press {listing}."


def keypad_prompts(guard: OverloadGuard, runner: FlowRunner) -> list[str]:
    """Every keypad notice the flow can need, to synthesize with its other static prompts."""
    return sorted({keypad_prompt(guard.config.keypad_text, runner, step) for step in runner.flow.steps})


def _label(runner: FlowRunner, name: str) -> str:
    intent = runner.flow.intents.get(name)
    label = intent.label if intent is not None and intent.label else name
    return label.replace("_", " ")
