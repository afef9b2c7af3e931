"""Callbacks instead of waiting: when to offer one, which numbers to accept, and the entry that keeps its place.

A caller who accepts a callback hangs up, but their `QueueEntry` stays in the queue with `callback` set to
the number to dial: it keeps its place (priority, then arrival), is offered to agents like any caller, and
never hears announcements or overflows to voicemail (it has no leg to play them on). When the agent answers,
the session dials the caller; if the caller does not answer, the entry is put back with `requeue_callback`
after `callback_interval`, still with its first arrival time, until `callback_attempts` have been made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from ivr.core.config import CallbacksConfig, QueueConfig
from ivr.queues.distributor import CallDistributor
from ivr.queues.model import AgentState, CancelOffer, Decision, QueueEntry, QueueError
from ivr.queues.state import WaitingCaller

# Every state a stored callback can be in: waiting for an agent (and between attempts), an attempt is being
# dialled, the caller talked to an agent, every attempt failed, a supervisor closed a failed one.
CALLBACK_STATES = ("pending", "dialing", "completed", "failed", "closed")


@dataclass(frozen=True)
class CallbackHeld(Decision):
    """The caller hung up after accepting a callback to `entry.callback`; the entry keeps its place."""

    kind: ClassVar[str] = "callback_requested"
    entry: QueueEntry
    wait: float

    def as_record(self) -> dict[str, Any] | None:
        e = self.entry
        return {"kind": "callback_requested", "call_id": e.call_id, "queue": e.queue, "agent_id": "",
                "wait_seconds": self.wait, "detail": f"number={e.callback}"}  # fmt: skip


def offers_callback(ewt: float | None, cfg: QueueConfig) -> bool:
    """True when the estimated wait is known and above the queue's callback threshold (0: never offered)."""
    return cfg.callback_threshold > 0 and ewt is not None and ewt > cfg.callback_threshold


def callback_number(text: str, cfg: CallbacksConfig) -> str | None:
    """The number to dial, or None when `text` is not one: digits only (a leading + allowed), of a sane length."""
    number = text.strip()
    digits = number[1:] if number.startswith("+") else number
    if not digits.isascii() or not digits.isdigit() or not cfg.min_digits <= len(digits) <= cfg.max_digits:
        return None
    return number


def callback_target(number: str, cfg: CallbacksConfig, trunk_domain: str) -> str:
    """The SIP URI a callback dials: the configured route with {number}, else the number at the trunk's domain."""
    if cfg.route:
        return cfg.route.replace("{number}", number)
    if not trunk_domain:
        raise QueueError("a callback cannot be dialled: set [callbacks] route (e.g. \"sip:{number}@pbx:5060\") "
                         "or enable [sip.trunk]")  # fmt: skip
    return f"sip:{number}@{trunk_domain}"


def next_attempt(attempts_made: int, cfg: QueueConfig, now: float) -> float | None:
    """When to dial a caller again after `attempts_made` failed attempts (None: that was the last one)."""
    return now + cfg.callback_interval if attempts_made < max(1, cfg.callback_attempts) else None


def validate_callbacks(queues: Sequence[QueueConfig], cfg: CallbacksConfig) -> None:
    """Reject callback settings that cannot work, naming the key to fix."""
    for q in queues:
        if q.callback_threshold < 0 or q.callback_attempts < 1 or q.callback_interval < 0:
            raise QueueError(f"queue {q.name!r}: callback_threshold and callback_interval must be >= 0 and "
                             "callback_attempts >= 1; fix [[queues]] in config.toml")  # fmt: skip
    if not 1 <= cfg.min_digits <= cfg.max_digits <= 20:
        raise QueueError("[callbacks] needs 1 <= min_digits <= max_digits <= 20; fix config.toml")
    if cfg.route and ("{number}" not in cfg.route or not cfg.route.startswith(("sip:", "sips:"))):
        raise QueueError(f"[callbacks] route {cfg.route!r} must be a SIP URI with {{number}} in it, "
                         "e.g. \"sip:{number}@10.0.0.9:5060\"")  # fmt: skip


class CallbackDistributor(CallDistributor):
    """The CallDistributor, plus entries that wait for an agent without a live caller (callbacks)."""

    def hold_for_callback(self, call_id: str, number: str) -> list[Decision]:
        """The waiting caller accepted a callback to `number` and hangs up; their entry keeps its place."""
        w = self._waiting(call_id)
        if w is None:
            raise QueueError(f"call {call_id!r} is not waiting in a queue, so it cannot keep a place for a callback")
        now = self._clock()
        out: list[Decision] = []
        if w.ringing is not None:  # the caller's own dial of this agent is being cancelled: free the agent
            agent = self._agents[w.ringing]
            out.append(CancelOffer(w.entry, agent.cfg.id, "the caller chose a callback"))
            w.ringing, agent.call_id = None, None
            self._set(agent, agent.after_call or AgentState.AVAILABLE, now, out, "caller chose a callback")
            agent.after_call = None
        w.entry = replace(w.entry, callback=number)
        w.next_announce = None
        w.tried.clear()
        out.append(CallbackHeld(w.entry, now - w.entry.enqueued_at))
        self._dispatch(now, out)
        return out

    def requeue_callback(self, entry: QueueEntry) -> list[Decision]:
        """Put a callback back in its queue (a retry, or after a restart), in its first arrival's place."""
        if not entry.callback:
            raise QueueError(f"call {entry.call_id!r} has no callback number; only callbacks can be requeued")
        if entry.call_id in self._where or entry.call_id in self._connected:
            raise QueueError(f"call {entry.call_id!r} is already queued or connected to an agent")
        q, now = self._queue(entry.queue), self._clock()
        out: list[Decision] = []
        q.waiting[entry.call_id] = WaitingCaller(entry, next(self._seq), now)
        self._where[entry.call_id] = entry.queue
        self._dispatch(now, out)
        return out

    def callbacks(self, queue: str) -> list[QueueEntry]:
        """Callbacks waiting in `queue`, next first."""
        return [e for e in self.waiting(queue) if e.callback]

    # A callback has no leg: it is never announced to, and never overflows (max_wait, no agents, draining);
    # its max-wait clock restarts instead, so tick() does not come back for it before another max_wait.
    def _overflow(self, w: WaitingCaller, reason: str, now: float, out: list[Decision]) -> None:
        if w.entry.callback:
            w.queued_at = now
            return
        super()._overflow(w, reason, now, out)

    def _announce(self, w: WaitingCaller, now: float, out: list[Decision]) -> None:
        if w.entry.callback:
            w.next_announce = None
            return
        super()._announce(w, now, out)
