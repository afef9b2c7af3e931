"""ACD: queues, agents and their states, routing strategies and wait-time estimates (pure logic)."""

from __future__ import annotations

from ivr.queues.distributor import CallDistributor
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

__all__ = [
    "Abandoned",
    "AgentState",
    "AgentStateChanged",
    "Announce",
    "CallDistributor",
    "CancelOffer",
    "Connected",
    "Decision",
    "Enqueued",
    "NoAnswer",
    "Offer",
    "Overflow",
    "QueueEntry",
    "QueueError",
]
