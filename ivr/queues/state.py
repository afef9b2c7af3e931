"""Mutable bookkeeping of the distributor: one record per agent, waiting caller and queue."""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.core.config import AgentConfig, QueueConfig
from ivr.queues.model import AgentState, QueueEntry


@dataclass
class AgentRecord:
    """An agent and what it is doing."""

    cfg: AgentConfig
    skills: frozenset[str]
    state: AgentState = AgentState.OFFLINE
    idle_since: float = 0.0
    call_id: str | None = None
    call_queue: str = ""
    answered_at: float = 0.0
    wrap_until: float | None = None
    after_call: AgentState | None = None  # not_ready/offline asked for during a call


@dataclass
class WaitingCaller:
    """A queued caller and its offer state."""

    entry: QueueEntry
    seq: int
    queued_at: float
    tried: set[str] = field(default_factory=set)
    ringing: str | None = None
    ring_deadline: float = 0.0
    next_announce: float | None = None

    def order(self) -> tuple[int, float, int]:
        """Sort key: higher priority first, then earlier arrival."""
        return (-self.entry.priority, self.entry.enqueued_at, self.seq)


@dataclass
class QueueRecord:
    """A queue, its members and its waiting callers."""

    cfg: QueueConfig
    members: list[str]
    handle_time: float
    waiting: dict[str, WaitingCaller] = field(default_factory=dict)
    rr_next: int = 0
    mode: str = "open"  # "paused": callers wait but no agent is offered one; "draining": no new callers
