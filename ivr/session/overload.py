"""Overload never means silence: the decode capacity of this control process and the rule built on it.

`DecodeLoad` counts the bot turns' decodes in flight and queued and measures how long a decode takes.
From them `OverloadGuard` predicts when a decode asked for now would finish, and decides:
- acknowledge: a reply predicted (or found, by a watchdog) to come later than `ack_after_ms` after the
  caller's end of speech is covered by "One moment." (`ivr.session.overload_call`);
- keypad: while the decode queue wait stays above `keypad_after_ms`, speech steps that also take keys
  ask for keys instead, until the queue wait has stayed at or under `keypad_until_ms` for
  `keypad_hold_seconds` (hysteresis, so steps do not flip between speech and keys from turn to turn);
- admit: a new call beyond `max_calls` (or, planned, beyond the capacity while recognition is busy) is refused
  before it is answered (503 with Retry-After).
Pure logic on an injected clock: no I/O, no asyncio.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from ivr.core.config import OverloadConfig

# How fast the measured decode time follows new decodes: about the last 5 decodes count.
_EWMA = 0.2
# max_calls = 0 plans for half the decode capacity: turns do not arrive evenly, and a caller whose turn
# meets a burst waits for every decode queued ahead of it.
_PLANNED_SHARE = 0.5


class DecodeLoad:
    """The bot turns' decodes in flight and queued, and the measured time one decode takes."""

    def __init__(self, slots: int, decode_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.slots = max(1, slots)
        self.decode_seconds = decode_seconds  # measured from here on (EWMA of finished decodes)
        self._clock = clock
        self._next = 0
        self._pending: dict[int, float | None] = {}  # token -> when it got a slot (None: still queued), FIFO
        self.finished = 0
        self.on_change: Callable[[], None] | None = None  # called after every begin and end

    def begin(self) -> int:
        """A decode was asked for; returns its token for `end`."""
        token = self._next
        self._next += 1
        self._pending[token] = None
        self._promote()
        return token

    def end(self, token: int, completed: bool = True) -> None:
        """The decode finished (or was cancelled: `completed=False`, its time is not measured)."""
        started = self._pending.pop(token, None)
        if completed and started is not None:
            took = self._clock() - started
            self.decode_seconds += _EWMA * (took - self.decode_seconds)
            self.finished += 1
        self._promote()

    def _promote(self) -> None:
        # The pool runs jobs in order: the first `slots` pending decodes are the ones running.
        now = self._clock()
        for i, (token, started) in enumerate(self._pending.items()):
            if i >= self.slots:
                break
            if started is None:
                self._pending[token] = now
        if self.on_change is not None:
            self.on_change()

    @property
    def in_flight(self) -> int:
        """Decodes running now."""
        return min(len(self._pending), self.slots)

    @property
    def queued(self) -> int:
        """Decodes waiting for a free slot."""
        return max(0, len(self._pending) - self.slots)

    def expected_seconds(self) -> float:
        """What a decode is expected to take: the measured average, or longer while a running decode already has.

        Under a sudden load (other processes, many callers) no decode finishes for seconds, and the average
        alone would keep promising the quiet machine's time.
        """
        now = self._clock()
        return max([self.decode_seconds, *(now - s for s in self._pending.values() if s is not None)])

    def queue_wait(self) -> float:
        """Seconds a decode asked for now would wait for a slot (0 while one is free)."""
        ahead = len(self._pending) - self.slots + 1
        return math.ceil(ahead / self.slots) * self.expected_seconds() if ahead > 0 else 0.0

    def predicted_seconds(self) -> float:
        """Seconds until a decode asked for now would have its result."""
        return self.queue_wait() + self.expected_seconds()


class Hysteresis:
    """On once a value has stayed at or above `high` for `enter_s`; off once at or below `low` for `exit_s`."""

    def __init__(self, high: float, low: float, enter_s: float, exit_s: float) -> None:
        self.high, self.low, self.enter_s, self.exit_s = high, low, enter_s, exit_s
        self.on = False
        self._value = 0.0
        self._since: float | None = None  # since when the value has been past the threshold that flips it

    def observe(self, now: float, value: float | None = None) -> bool:
        """Take a new value (None: the last one still holds) and return the state at `now`."""
        if value is not None:
            self._value = value
        past = self._value <= self.low if self.on else self._value >= self.high
        if not past:
            self._since = None
        elif self._since is None:
            self._since = now
        if self._since is not None and now - self._since >= (self.exit_s if self.on else self.enter_s):
            self.on, self._since = not self.on, None  # the timer toward flipping back starts at the next value
        return self.on


@dataclass(frozen=True)
class OverloadNumbers:
    """The overload numbers at one moment, for /metrics."""

    decode_slots: int
    decodes_in_flight: int
    decodes_queued: int
    decode_seconds: float
    predicted_reply_seconds: float
    call_capacity: int
    keypad_only: bool
    acknowledgements: int
    keypad_fallbacks: int
    calls_refused: int


class OverloadGuard:
    """This control process's overload rule: acknowledge late replies, fall back to keys, refuse calls."""

    def __init__(self, config: OverloadConfig, asr_workers: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        slots = config.decode_slots or min(asr_workers, os.cpu_count() or 1)  # a decode thread is CPU-bound
        self.load = DecodeLoad(slots, config.decode_seconds, clock)
        self.load.on_change = self.decode_changed
        self._clock = clock
        self._keypad = Hysteresis(config.keypad_after_ms / 1000, config.keypad_until_ms / 1000,
                                  config.keypad_enter_seconds, config.keypad_hold_seconds)  # fmt: skip
        self.acknowledgements = 0
        self.keypad_fallbacks = 0
        self.calls_refused = 0

    def call_capacity(self) -> int:
        """Calls admitted at once: `max_calls`, else what the decode slots carry at the measured decode time."""
        if self.config.max_calls:
            return self.config.max_calls
        turns_per_second = self.load.slots / self.load.decode_seconds * _PLANNED_SHARE
        return max(self.load.slots, int(turns_per_second * self.config.turn_interval_seconds))

    def admit(self, active_calls: int) -> bool:
        """True if one more call may be answered now; a refusal is counted.

        `max_calls` set: a hard limit. Planned (0): it applies only while recognition is busy (a decode waits for a
        slot, or the keypad fallback is on), so keypad and playback calls are not refused for speech that is not
        happening; a burst of speakers admitted meanwhile gets "One moment." and the keypad fallback.
        """
        busy = self.load.queued > 0 or self._keypad.on
        if active_calls < self.call_capacity() or (not self.config.max_calls and not busy):
            return True
        self.calls_refused += 1
        return False

    def ack_now(self, waited: float) -> bool:
        """At the end of a caller's speech (`waited` seconds ago): is the reply predicted to come too late?"""
        return waited + self.load.predicted_seconds() > self.config.ack_after_ms / 1000

    def keypad_only(self) -> bool:
        """True while recognition stays saturated: speech steps that take keys should ask for keys."""
        return self._keypad.observe(self._clock(), self.load.queue_wait())

    def decode_changed(self) -> None:
        """A decode began or ended: the saturation timer sees each change of the queue wait."""
        self._keypad.observe(self._clock(), self.load.queue_wait())

    def prompts(self) -> list[str]:
        """Texts to synthesize before the first call."""
        return [self.config.ack_text, self.config.keypad_text]

    def describe(self) -> str:
        """One log line: the capacity chosen and why."""
        how = "[overload] max_calls" if self.config.max_calls else (
            f"{self.load.slots} decode slot(s) at {self.load.decode_seconds:.2f} s a decode, a turn every "
            f"{self.config.turn_interval_seconds:g} s, planned at {_PLANNED_SHARE:.0%}")  # fmt: skip
        when = "" if self.config.max_calls else " while recognition is busy"
        return (f"overload: {self.call_capacity()} calls admitted at once{when} ({how}); 'one moment' after "
                f"{self.config.ack_after_ms} ms, keys instead of speech past a "
                f"{self.config.keypad_after_ms} ms decode queue")  # fmt: skip

    def snapshot(self) -> OverloadNumbers:
        """Every overload number now."""
        return OverloadNumbers(
            decode_slots=self.load.slots,
            decodes_in_flight=self.load.in_flight,
            decodes_queued=self.load.queued,
            decode_seconds=self.load.decode_seconds,
            predicted_reply_seconds=self.load.predicted_seconds(),
            call_capacity=self.call_capacity(),
            keypad_only=self.keypad_only(),
            acknowledgements=self.acknowledgements,
            keypad_fallbacks=self.keypad_fallbacks,
            calls_refused=self.calls_refused,
        )
