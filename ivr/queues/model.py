"""ACD vocabulary: agent states, queue entries and the decisions the distributor returns.

The distributor never dials or plays anything: the call session turns each decision into SIP
actions (Offer -> dial the agent, Announce -> play position and wait, Overflow -> voicemail or
another target), and can store each one with `store.add_queue_event(**d.as_record())`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from ivr.core.config import AgentConfig
from ivr.core.errors import IvrError


class QueueError(IvrError):
    """The ACD configuration is invalid, or a queue/agent operation names something unknown."""


class AgentState(StrEnum):
    """Where an agent is; 'ringing', 'busy' and 'wrap_up' count as working time."""

    OFFLINE = "offline"
    AVAILABLE = "available"
    RINGING = "ringing"
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    NOT_READY = "not_ready"


@dataclass(frozen=True)
class QueueEntry:
    """A caller waiting for an agent; `enqueued_at` is the clock time of the first queue it entered."""

    call_id: str
    queue: str
    priority: int = 0
    skills: tuple[str, ...] = ()
    enqueued_at: float = 0.0
    caller: str = ""
    callback: str = ""  # the number to call back: the caller hung up and keeps their place (no live leg)


@dataclass(frozen=True)
class Decision:
    """Base of everything the distributor asks the call session to do or to record."""

    kind: ClassVar[str] = "decision"

    def as_record(self) -> dict[str, Any] | None:
        """Keyword arguments for CallStore.add_queue_event, or None when nothing is worth storing."""
        return None


def _entry_record(
    kind: str, entry: QueueEntry, agent_id: str = "", wait: float | None = None, detail: str = ""
) -> dict[str, Any]:
    return {
        "kind": kind,
        "call_id": entry.call_id,
        "queue": entry.queue,
        "agent_id": agent_id,
        "wait_seconds": wait,
        "detail": detail,
    }


@dataclass(frozen=True)
class Enqueued(Decision):
    """A caller entered a queue (counts as 'offered' in queue statistics)."""

    kind: ClassVar[str] = "enqueued"
    entry: QueueEntry

    def as_record(self) -> dict[str, Any] | None:
        return _entry_record("enqueued", self.entry, detail=f"priority={self.entry.priority}")


@dataclass(frozen=True)
class Offer(Decision):
    """Dial `agent` for this caller; report back agent_answered or agent_no_answer."""

    kind: ClassVar[str] = "offered"
    entry: QueueEntry
    agent: AgentConfig
    timeout: float
    wait: float

    def as_record(self) -> dict[str, Any] | None:
        return _entry_record("offered", self.entry, self.agent.id, self.wait)


@dataclass(frozen=True)
class CancelOffer(Decision):
    """Stop ringing (or hang up the just-answered leg of) `agent_id`: the offer is withdrawn."""

    kind: ClassVar[str] = "offer_cancelled"
    entry: QueueEntry
    agent_id: str
    reason: str

    def as_record(self) -> dict[str, Any] | None:
        return _entry_record("offer_cancelled", self.entry, self.agent_id, detail=self.reason)


@dataclass(frozen=True)
class NoAnswer(Decision):
    """The agent did not answer in time; the caller is offered to the next agent."""

    kind: ClassVar[str] = "no_answer"
    entry: QueueEntry
    agent_id: str

    def as_record(self) -> dict[str, Any] | None:
        return _entry_record("no_answer", self.entry, self.agent_id)


@dataclass(frozen=True)
class Connected(Decision):
    """The agent answered: bridge the caller to the agent leg."""

    kind: ClassVar[str] = "answered"
    entry: QueueEntry
    agent_id: str
    wait: float

    def as_record(self) -> dict[str, Any] | None:
        return _entry_record("answered", self.entry, self.agent_id, self.wait)


@dataclass(frozen=True)
class Abandoned(Decision):
    """The caller hung up while waiting."""

    kind: ClassVar[str] = "abandoned"
    entry: QueueEntry
    wait: float

    def as_record(self) -> dict[str, Any] | None:
        return _entry_record("abandoned", self.entry, wait=self.wait)


@dataclass(frozen=True)
class Overflow(Decision):
    """The caller leaves the queue for `target` ('voicemail[:box]', 'queue:NAME' or a SIP URI).

    For 'queue:NAME' the distributor has already moved the caller; the session only announces it.
    """

    kind: ClassVar[str] = "overflow"
    entry: QueueEntry
    target: str
    reason: str
    wait: float

    @property
    def target_queue(self) -> str | None:
        """The queue the caller moved to, when the target is another queue."""
        return self.target[len("queue:") :] if self.target.startswith("queue:") else None

    def as_record(self) -> dict[str, Any] | None:
        return _entry_record("overflow", self.entry, wait=self.wait, detail=f"{self.reason} -> {self.target}")


@dataclass(frozen=True)
class Announce(Decision):
    """Tell the caller their position (1 = next) and estimated wait in seconds (None = unknown)."""

    kind: ClassVar[str] = "announce"
    entry: QueueEntry
    position: int
    ewt: float | None


@dataclass(frozen=True)
class AgentStateChanged(Decision):
    """An agent moved between states (feeds the console and occupancy reports)."""

    kind: ClassVar[str] = "agent_state"
    agent_id: str
    state: AgentState
    previous: AgentState
    reason: str = ""

    def as_record(self) -> dict[str, Any] | None:
        return {"kind": "agent_state", "agent_id": self.agent_id, "detail": self.state.value}
