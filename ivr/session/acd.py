"""The control process's ACD: one CallDistributor, its timer task, and decisions routed to calls.

`ivr.queues.CallDistributor` is pure: every input returns decisions. `Acd` feeds it (agents log
in at start-up, calls enqueue, phones answer or not), stores every decision that is worth a
row (`store.add_queue_event(**d.as_record())`), hands each call's decisions to that call's
inbox, and sleeps until `next_deadline()` to run `tick()` (ring timeouts, wrap-up ends,
max-wait overflow, announcements).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from ivr.core.config import AgentConfig, QueueConfig
from ivr.queues import AgentState, AgentStateChanged, Decision, Offer, Overflow
from ivr.queues.roster import AgentStatus, agent_status, apply_roster
from ivr.queues.callback import CallbackDistributor
from ivr.queues.model import QueueEntry

log = logging.getLogger("ivr.acd")


class QueueEventSink(Protocol):
    """Where queue events go (CallStore in production)."""

    def add_queue_event(
        self,
        kind: str,
        *,
        call_id: str = "",
        queue: str = "",
        agent_id: str = "",
        wait_seconds: float | None = None,
        detail: str = "",
        at: float | None = None,
    ) -> str: ...


def queues_with_defaults(configured: Sequence[QueueConfig], used: Iterable[str]) -> tuple[QueueConfig, ...]:
    """The [[queues]], plus a queue with default settings for each name a flow uses but config lacks."""
    known = {q.name for q in configured}
    extra = []
    for name in sorted(set(used) - known):
        if name:
            log.info("queue %r is used by the flow but not in [[queues]]: it gets the default settings", name)
            extra.append(QueueConfig(name=name))
    return (*configured, *extra)


class Acd:
    """One distributor per control process, driven by calls, phones and its own timer."""

    def __init__(
        self,
        queues: Sequence[QueueConfig],
        agents: Sequence[AgentConfig],
        events: QueueEventSink | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.distributor = CallbackDistributor(queues, agents, clock=clock)
        self.queues = {q.name: q for q in queues}
        self.agents = {a.id: a for a in agents}
        self._events = events
        self._clock = clock
        self._inboxes: dict[str, asyncio.Queue[Decision]] = {}
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._observers: list[Callable[[Decision], None]] = []

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Log every configured agent in (ready) and start the timer task."""
        for agent_id in self.agents:
            self._route(self.distributor.login(agent_id, ready=True))
        self._timer = asyncio.create_task(self._run_timers(), name="acd-timers")
        if self.agents:
            log.info("acd: %d agent(s) logged in: %s", len(self.agents), ", ".join(self.agents))

    async def stop(self) -> None:
        """Stop the timer task (calls still in a queue can leave it; nothing new is offered by timers)."""
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
            self._timer = None

    def observe(self, fn: Callable[[Decision], None]) -> None:
        """Also hand every decision to `fn` (the live floor), as it is made; `fn` must return at once."""
        self._observers.append(fn)

    # --- inputs --------------------------------------------------------------------------

    def set_queue_mode(self, queue: str, mode: str) -> None:
        """A supervisor opens, pauses or drains a queue (QueueError names an unknown queue or mode)."""
        self._route(self.distributor.set_mode(queue, mode))

    def logout(self, agent_id: str) -> None:
        """Log an agent out (after the call they are on; a ringing offer goes to the next agent)."""
        self._route(self.distributor.logout(agent_id))

    def login(self, agent_id: str, *, ready: bool = True) -> None:
        """Log an agent in, available at once unless `ready` is False (QueueError for an unknown agent)."""
        self._route(self.distributor.login(agent_id, ready=ready))

    def set_ready(self, agent_id: str) -> None:
        """The agent is available (ends not-ready, or wrap-up early; logs a logged-out agent in)."""
        if self.distributor.agent_state(agent_id) is AgentState.OFFLINE:
            self._route(self.distributor.login(agent_id, ready=True))
        else:
            self._route(self.distributor.set_ready(agent_id))

    def set_not_ready(self, agent_id: str, reason: str) -> None:
        """The agent pauses for `reason` (after the call they are on; logs a logged-out agent in, not ready)."""
        if self.distributor.agent_state(agent_id) is AgentState.OFFLINE:
            self._route(self.distributor.login(agent_id, ready=False))
        self._route(self.distributor.set_not_ready(agent_id, reason))

    def status(self, agent_id: str) -> AgentStatus:
        """What the agent is doing now (QueueError for an unknown agent)."""
        return agent_status(self.distributor, agent_id)

    def reconfigure(self, queues: Sequence[QueueConfig], agents: Sequence[AgentConfig]) -> None:
        """Serve these queues with these agents from now on; queues no longer listed keep default settings."""
        queues = queues_with_defaults(queues, self.queues)
        self._route(apply_roster(self.distributor, queues, agents))
        self.queues = {q.name: q for q in queues}
        self.agents = {a.id: a for a in agents}
        log.info("acd: roster changed: %d queue(s), %d agent(s)", len(self.queues), len(self.agents))

    def enqueue(
        self, call_id: str, queue: str, *, priority: int = 0, skills: Iterable[str] = (), caller: str = ""
    ) -> asyncio.Queue[Decision]:
        """Put a caller in `queue`; returns the inbox where that call's decisions arrive."""
        inbox: asyncio.Queue[Decision] = asyncio.Queue()
        self._inboxes[call_id] = inbox
        try:
            decisions = self.distributor.enqueue(call_id, queue, priority=priority, skills=skills, caller=caller)
        except BaseException:
            del self._inboxes[call_id]
            raise
        self._route(decisions)
        return inbox

    def agent_answered(self, call_id: str, agent_id: str) -> None:
        """The offered agent picked up (a Connected or CancelOffer reaches the call's inbox)."""
        self._route(self.distributor.agent_answered(call_id, agent_id))

    def agent_no_answer(self, call_id: str, agent_id: str) -> None:
        """Dialling the agent failed (busy, unreachable, rang out): try the next agent."""
        self._route(self.distributor.agent_no_answer(call_id, agent_id))

    def abandon(self, call_id: str) -> None:
        """The caller hung up while waiting."""
        self._route(self.distributor.abandon(call_id))

    def call_ended(self, call_id: str) -> None:
        """A caller connected to an agent hung up (or the agent did): the agent goes to wrap-up."""
        self._route(self.distributor.call_ended(call_id))

    def leave(self, call_id: str, inbox: asyncio.Queue[Decision] | None = None) -> None:
        """The call's transfer is over: stop delivering decisions to it (to `inbox` only, when given)."""
        if inbox is None or self._inboxes.get(call_id) is inbox:
            self._inboxes.pop(call_id, None)

    def hold_for_callback(self, call_id: str, number: str) -> asyncio.Queue[Decision]:
        """The waiting caller hangs up to be called back; returns the new inbox of that callback's decisions."""
        return self._swap_inbox(call_id, lambda: self.distributor.hold_for_callback(call_id, number))

    def requeue_callback(self, entry: QueueEntry) -> asyncio.Queue[Decision]:
        """Put a callback back in its queue (a retry, a restart); returns the inbox of its decisions."""
        return self._swap_inbox(entry.call_id, lambda: self.distributor.requeue_callback(entry))

    def waiting(self, call_id: str) -> bool:
        """True while the call waits in a queue (ringing an agent included)."""
        return self.distributor.position(call_id) is not None

    # --- internals -----------------------------------------------------------------------

    def _swap_inbox(self, call_id: str, act: Callable[[], list[Decision]]) -> asyncio.Queue[Decision]:
        inbox: asyncio.Queue[Decision] = asyncio.Queue()
        old = self._inboxes.get(call_id)
        self._inboxes[call_id] = inbox
        try:
            decisions = act()
        except BaseException:
            if old is not None:
                self._inboxes[call_id] = old
            else:
                del self._inboxes[call_id]
            raise
        self._route(decisions)
        return inbox

    def _route(self, decisions: list[Decision]) -> None:
        for d in decisions:
            record = d.as_record()
            entry = getattr(d, "entry", None)
            if record is not None and entry is not None and entry.callback and not record["kind"].startswith("call"):
                record["kind"] = f"callback_{record['kind']}"  # a callback's offers are not new calls in the stats
            if record is not None and self._events is not None:
                self._events.add_queue_event(**record)
            for fn in self._observers:
                fn(d)
            if isinstance(d, AgentStateChanged):
                log.info("acd: agent %s %s -> %s (%s)", d.agent_id, d.previous.value, d.state.value, d.reason)
                continue
            entry = getattr(d, "entry", None)
            if isinstance(d, Offer):
                log.info("acd: call %s offered to agent %s after %.1f s", d.entry.call_id, d.agent.id, d.wait)
            elif isinstance(d, Overflow):
                log.info("acd: call %s overflows (%s) to %s", d.entry.call_id, d.reason, d.target)
            if entry is not None and (inbox := self._inboxes.get(entry.call_id)) is not None:
                inbox.put_nowait(d)
        self._wake.set()  # deadlines may have moved

    async def _run_timers(self) -> None:
        while True:
            self._wake.clear()
            deadline = self.distributor.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self._clock())
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races the wake-up.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            try:
                self._route(self.distributor.tick())
            except Exception:  # a bug here must not stop every queue's timers
                log.exception("acd: tick failed; timers keep running")
