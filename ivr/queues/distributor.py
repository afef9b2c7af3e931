"""CallDistributor: pure ACD logic over an injected clock; every call returns decisions.

Routing: waiting callers are served by priority (higher first), then arrival time. A caller
can only go to an agent of its queue who has all its skills; among those the most specialised
agent (fewest skills beyond the ones asked for) is chosen, keeping generalists free, then the
longest-idle one ('longest_idle'), or the next in config order ('round_robin').
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from ivr.core.config import AgentConfig, QueueConfig
from ivr.queues.model import (
    Abandoned,
    AgentState,
    AgentStateChanged,
    Announce,
    CancelOffer,
    Connected,
    Decision,
    Enqueued,
    NoAnswer,
    Offer,
    Overflow,
    QueueEntry,
    QueueError,
)
from ivr.queues.state import AgentRecord, QueueRecord, WaitingCaller
from ivr.queues.validate import validate

# Weight of the newest call in the running average handle time used for wait estimates.
_HANDLE_TIME_ALPHA = 0.2
_LOGGED_IN = frozenset(
    {AgentState.AVAILABLE, AgentState.RINGING, AgentState.BUSY, AgentState.WRAP_UP, AgentState.NOT_READY}
)
_STAFFED = _LOGGED_IN - {AgentState.NOT_READY}
QUEUE_MODES = ("open", "paused", "draining")


class CallDistributor:
    """Queues, agents and their states; turns calls and agent actions into ACD decisions."""

    def __init__(
        self,
        queues: Sequence[QueueConfig],
        agents: Sequence[AgentConfig],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        validate(queues, agents)
        self._clock = clock
        self._agents = {a.id: AgentRecord(a, frozenset(a.skills)) for a in agents}
        self._queues = {
            q.name: QueueRecord(q, [a.id for a in agents if q.name in a.queues], q.handle_time) for q in queues
        }
        self._where: dict[str, str] = {}
        self._connected: dict[str, tuple[QueueEntry, str]] = {}
        self._seq = itertools.count()

    # --- agents --------------------------------------------------------------------------

    def login(self, agent_id: str, *, ready: bool = True) -> list[Decision]:
        """The agent logs in, available at once unless `ready` is False."""
        agent, now = self._agent(agent_id), self._clock()
        out: list[Decision] = []
        if agent.state is AgentState.OFFLINE:
            self._set(agent, AgentState.AVAILABLE if ready else AgentState.NOT_READY, now, out, "login")
            self._dispatch(now, out)
        return out

    def logout(self, agent_id: str) -> list[Decision]:
        """The agent logs out (after the current call if on one)."""
        return self._leave(agent_id, AgentState.OFFLINE, "logout")

    def set_not_ready(self, agent_id: str, reason: str = "") -> list[Decision]:
        """Pause the agent (after the current call if on one; a ringing offer is rejected)."""
        return self._leave(agent_id, AgentState.NOT_READY, reason or "not ready")

    def set_ready(self, agent_id: str) -> list[Decision]:
        """The agent is ready for calls (ends not-ready or wrap-up early)."""
        agent, now = self._agent(agent_id), self._clock()
        out: list[Decision] = []
        if agent.state is AgentState.OFFLINE:
            raise QueueError(f"agent {agent_id!r} is logged out; log in before setting ready")
        if agent.state in (AgentState.BUSY, AgentState.RINGING):
            agent.after_call = None
        elif agent.state in (AgentState.NOT_READY, AgentState.WRAP_UP):
            agent.wrap_until = None
            self._set(agent, AgentState.AVAILABLE, now, out, "ready")
            self._dispatch(now, out)
        return out

    def agent_state(self, agent_id: str) -> AgentState:
        """Current state of an agent."""
        return self._agent(agent_id).state

    # --- queues --------------------------------------------------------------------------

    def set_mode(self, queue: str, mode: str) -> list[Decision]:
        """Open a queue, pause it (callers wait, no agent is offered one) or drain it (no new callers join)."""
        if mode not in QUEUE_MODES:
            raise QueueError(f"queue mode {mode!r} is unknown; use one of {', '.join(QUEUE_MODES)}")
        self._queue(queue).mode = mode
        out: list[Decision] = []
        self._dispatch(self._clock(), out)  # reopened: waiting callers are offered at once
        return out

    def mode(self, queue: str) -> str:
        """'open', 'paused' or 'draining'."""
        return self._queue(queue).mode

    def members(self, queue: str) -> list[str]:
        """Ids of the agents who serve `queue`, in config order."""
        return list(self._queue(queue).members)

    # --- calls ---------------------------------------------------------------------------

    def enqueue(
        self, call_id: str, queue: str, *, priority: int = 0, skills: Iterable[str] = (), caller: str = ""
    ) -> list[Decision]:
        """A caller joins `queue`; higher `priority` is served first; `skills` are required."""
        q = self._queue(queue)
        if q.mode == "draining" and not q.cfg.overflow:
            raise QueueError(f"queue {queue!r} is draining and has no overflow: it takes no new callers until a "
                             "supervisor opens it again on the live floor")  # fmt: skip
        if call_id in self._where or call_id in self._connected:
            raise QueueError(f"call {call_id!r} is already queued or connected to an agent")
        now = self._clock()
        out: list[Decision] = []
        self._add(QueueEntry(call_id, queue, priority, tuple(skills), now, caller), now, out)
        return out

    def agent_answered(self, call_id: str, agent_id: str) -> list[Decision]:
        """The offered agent picked up; a stale answer gets a CancelOffer back."""
        w = self._waiting(call_id)
        if w is None or w.ringing != agent_id:
            entry = w.entry if w else QueueEntry(call_id, "")
            return [CancelOffer(entry, agent_id, "the offer was withdrawn")]
        now = self._clock()
        out: list[Decision] = []
        agent = self._agents[agent_id]
        self._remove(w)
        agent.call_queue, agent.answered_at = w.entry.queue, now
        self._connected[call_id] = (w.entry, agent_id)
        self._set(agent, AgentState.BUSY, now, out, "answered")
        out.append(Connected(w.entry, agent_id, now - w.entry.enqueued_at))
        return out

    def agent_no_answer(self, call_id: str, agent_id: str) -> list[Decision]:
        """Dialling the agent failed or timed out; offer the caller to the next agent."""
        w = self._waiting(call_id)
        if w is None or w.ringing != agent_id:
            return []
        now = self._clock()
        out: list[Decision] = []
        self._no_answer(w, now, out, cancel=False)
        self._dispatch(now, out)
        return out

    def abandon(self, call_id: str) -> list[Decision]:
        """The caller hung up while queued (a ringing agent is released)."""
        w = self._waiting(call_id)
        if w is None:
            return []
        now = self._clock()
        out: list[Decision] = []
        if w.ringing is not None:
            agent = self._agents[w.ringing]
            out.append(CancelOffer(w.entry, agent.cfg.id, "the caller hung up"))
            agent.call_id = None
            self._set(agent, agent.after_call or AgentState.AVAILABLE, now, out, "caller hung up")
            agent.after_call = None
        self._remove(w)
        out.append(Abandoned(w.entry, now - w.entry.enqueued_at))
        self._dispatch(now, out)
        return out

    def call_ended(self, call_id: str) -> list[Decision]:
        """A call connected to an agent ended; the agent goes to wrap-up."""
        done = self._connected.pop(call_id, None)
        if done is None:
            return []
        now = self._clock()
        out: list[Decision] = []
        agent = self._agents[done[1]]
        q = self._queues[agent.call_queue]
        handled = now - agent.answered_at + q.cfg.wrap_up
        q.handle_time += _HANDLE_TIME_ALPHA * (handled - q.handle_time)
        agent.call_id = None
        if q.cfg.wrap_up > 0 and agent.after_call is None:
            agent.wrap_until = now + q.cfg.wrap_up
            self._set(agent, AgentState.WRAP_UP, now, out, "call ended")
        else:
            self._after_work(agent, now, out)
        self._dispatch(now, out)
        return out

    def tick(self) -> list[Decision]:
        """Run due timers: ring timeouts, wrap-up ends, max-wait overflow, announcements."""
        now = self._clock()
        out: list[Decision] = []
        for w in self._all_waiting():
            if w.ringing is not None and now >= w.ring_deadline:
                self._no_answer(w, now, out, cancel=True)
        for agent in self._agents.values():
            if agent.wrap_until is not None and now >= agent.wrap_until:
                self._after_work(agent, now, out)
        for w in self._all_waiting():
            cfg = self._queues[w.entry.queue].cfg
            if w.ringing is None and cfg.overflow and cfg.max_wait > 0 and now - w.queued_at >= cfg.max_wait:
                self._overflow(w, "max_wait", now, out)
        self._dispatch(now, out)
        for w in self._all_waiting():
            if w.ringing is None and w.next_announce is not None and now >= w.next_announce:
                self._announce(w, now, out)
        return out

    def next_deadline(self) -> float | None:
        """Clock time when tick() next has work (None: nothing pending)."""
        times = [a.wrap_until for a in self._agents.values() if a.wrap_until is not None]
        for w in self._all_waiting():
            cfg = self._queues[w.entry.queue].cfg
            if w.ringing is not None:
                times.append(w.ring_deadline)
                continue
            if w.next_announce is not None:
                times.append(w.next_announce)
            if cfg.overflow and cfg.max_wait > 0:
                times.append(w.queued_at + cfg.max_wait)
        return min(times, default=None)

    # --- announcements -------------------------------------------------------------------

    def position(self, call_id: str) -> int | None:
        """1-based place of a waiting caller in its queue (None when not waiting)."""
        w = self._waiting(call_id)
        if w is None:
            return None
        ordered = sorted(self._queues[w.entry.queue].waiting.values(), key=WaitingCaller.order)
        return ordered.index(w) + 1

    def ewt(self, call_id: str) -> float | None:
        """Estimated wait in seconds: places beyond free agents x average handle time / staffed agents."""
        w = self._waiting(call_id)
        if w is None:
            return None
        if w.ringing is not None:
            return 0.0
        q = self._queues[w.entry.queue]
        need = set(w.entry.skills)
        staffed = [a for a in map(self._agents.__getitem__, q.members) if a.state in _STAFFED and need <= a.skills]
        if not staffed:
            return None
        free = sum(1 for a in staffed if a.state is AgentState.AVAILABLE)
        ahead = (self.position(call_id) or 1) - free
        return max(0, ahead) * q.handle_time / len(staffed)

    def waiting(self, queue: str) -> list[QueueEntry]:
        """Callers waiting in `queue`, next first."""
        return [w.entry for w in sorted(self._queues[queue].waiting.values(), key=WaitingCaller.order)]

    # --- internals -----------------------------------------------------------------------

    def _agent(self, agent_id: str) -> AgentRecord:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise QueueError(f"unknown agent {agent_id!r}; add it to [[agents]] in config.toml") from None

    def _queue(self, name: str) -> QueueRecord:
        try:
            return self._queues[name]
        except KeyError:
            raise QueueError(f"unknown queue {name!r}; known queues: {sorted(self._queues)} (see [[queues]])") from None

    def _waiting(self, call_id: str) -> WaitingCaller | None:
        queue = self._where.get(call_id)
        return self._queues[queue].waiting[call_id] if queue else None

    def _all_waiting(self) -> list[WaitingCaller]:
        return [w for q in self._queues.values() for w in q.waiting.values()]

    def _set(self, agent: AgentRecord, state: AgentState, now: float, out: list[Decision], reason: str) -> None:
        previous = agent.state
        if state is previous:
            return
        if state is AgentState.AVAILABLE and previous is not AgentState.RINGING:
            agent.idle_since = now  # an unanswered or withdrawn offer keeps the agent's place
        agent.state = state
        out.append(AgentStateChanged(agent.cfg.id, state, previous, reason))
        if state is AgentState.OFFLINE:
            self._overflow_unstaffed(now, out)

    def _leave(self, agent_id: str, state: AgentState, reason: str) -> list[Decision]:
        agent, now = self._agent(agent_id), self._clock()
        out: list[Decision] = []
        if agent.state is AgentState.OFFLINE:
            if state is AgentState.NOT_READY:
                raise QueueError(f"agent {agent_id!r} is logged out; log in before pausing")
            return out
        if agent.state is AgentState.BUSY:
            agent.after_call = state
            return out
        if agent.state is AgentState.RINGING and agent.call_id is not None:
            w = self._waiting(agent.call_id)
            if w is not None:
                out.append(CancelOffer(w.entry, agent_id, f"agent {reason}"))
                w.ringing = None
                w.tried.add(agent_id)
            agent.call_id = None
        agent.wrap_until = None
        self._set(agent, state, now, out, reason)
        self._dispatch(now, out)
        return out

    def _after_work(self, agent: AgentRecord, now: float, out: list[Decision]) -> None:
        agent.wrap_until = None
        state, agent.after_call = agent.after_call or AgentState.AVAILABLE, None
        self._set(agent, state, now, out, "wrap-up done" if state is AgentState.AVAILABLE else "after call")

    def _add(self, entry: QueueEntry, now: float, out: list[Decision]) -> None:
        q = self._queues[entry.queue]
        w = WaitingCaller(entry, next(self._seq), now)
        q.waiting[entry.call_id] = w
        self._where[entry.call_id] = entry.queue
        out.append(Enqueued(entry))
        if q.cfg.overflow and q.mode == "draining":
            self._overflow(w, "draining", now, out)
            return
        if q.cfg.overflow and q.cfg.overflow_when_no_agents and not self._anyone_logged_in(q, entry):
            self._overflow(w, "no_agents", now, out)
            return
        self._dispatch(now, out)
        if entry.call_id in self._where and q.cfg.announce_interval > 0:
            if w.ringing is None:
                self._announce(w, now, out)
            else:  # offered at once: if no agent has answered an interval from now, say where they are
                w.next_announce = now + q.cfg.announce_interval

    def _remove(self, w: WaitingCaller) -> None:
        del self._queues[w.entry.queue].waiting[w.entry.call_id]
        del self._where[w.entry.call_id]

    def _anyone_logged_in(self, q: QueueRecord, entry: QueueEntry) -> bool:
        need = set(entry.skills)
        return any(self._agents[a].state in _LOGGED_IN and need <= self._agents[a].skills for a in q.members)

    def _overflow_unstaffed(self, now: float, out: list[Decision]) -> None:
        for w in self._all_waiting():
            q = self._queues[w.entry.queue]
            if w.ringing is None and q.cfg.overflow and q.cfg.overflow_when_no_agents:
                if not self._anyone_logged_in(q, w.entry):
                    self._overflow(w, "no_agents", now, out)

    def _overflow(self, w: WaitingCaller, reason: str, now: float, out: list[Decision]) -> None:
        target = self._queues[w.entry.queue].cfg.overflow
        self._remove(w)
        overflow = Overflow(w.entry, target, reason, now - w.entry.enqueued_at)
        out.append(overflow)
        if overflow.target_queue is not None:  # validate() ruled out cycles, so this ends
            self._add(replace(w.entry, queue=overflow.target_queue), now, out)

    def _announce(self, w: WaitingCaller, now: float, out: list[Decision]) -> None:
        interval = self._queues[w.entry.queue].cfg.announce_interval
        out.append(Announce(w.entry, self.position(w.entry.call_id) or 1, self.ewt(w.entry.call_id)))
        w.next_announce = (w.next_announce or now) + interval
        if w.next_announce <= now:  # a late tick() announces once, not once per missed interval
            w.next_announce = now + interval

    def _no_answer(self, w: WaitingCaller, now: float, out: list[Decision], *, cancel: bool) -> None:
        agent = self._agents[w.ringing or ""]
        if cancel:
            out.append(CancelOffer(w.entry, agent.cfg.id, "ring timeout"))
        out.append(NoAnswer(w.entry, agent.cfg.id))
        w.tried.add(agent.cfg.id)
        w.ringing, agent.call_id = None, None
        policy = self._queues[w.entry.queue].cfg.no_answer
        state = agent.after_call or (AgentState.NOT_READY if policy == "not_ready" else AgentState.AVAILABLE)
        agent.after_call = None
        self._set(agent, state, now, out, "no answer")

    def _dispatch(self, now: float, out: list[Decision]) -> None:
        for w in sorted(self._all_waiting(), key=WaitingCaller.order):
            if not any(a.state is AgentState.AVAILABLE for a in self._agents.values()):
                return
            if w.ringing is None and (agent := self._pick(w)) is not None:
                q = self._queues[w.entry.queue]
                w.ringing, w.ring_deadline = agent.cfg.id, now + q.cfg.ring_timeout
                agent.call_id = w.entry.call_id
                self._set(agent, AgentState.RINGING, now, out, "offered")
                out.append(Offer(w.entry, agent.cfg, q.cfg.ring_timeout, now - w.entry.enqueued_at))

    def _pick(self, w: WaitingCaller) -> AgentRecord | None:
        q = self._queues[w.entry.queue]
        if q.mode == "paused":
            return None
        need = set(w.entry.skills)
        qualified = [
            a for a in map(self._agents.__getitem__, q.members) if a.state is AgentState.AVAILABLE and need <= a.skills
        ]
        if not qualified:
            return None
        fresh = [a for a in qualified if a.cfg.id not in w.tried]
        if not fresh:  # everyone qualified has been tried: start another round
            w.tried.clear()
            fresh = qualified
        if q.cfg.strategy == "round_robin":
            ids = {a.cfg.id for a in fresh}
            n = len(q.members)
            chosen = next(
                self._agents[q.members[(q.rr_next + i) % n]] for i in range(n) if q.members[(q.rr_next + i) % n] in ids
            )
            q.rr_next = (q.members.index(chosen.cfg.id) + 1) % n
            return chosen
        return min(fresh, key=lambda a: (len(a.skills - need), a.idle_since, q.members.index(a.cfg.id)))
