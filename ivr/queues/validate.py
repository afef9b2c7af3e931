"""Checks of [[queues]] and [[agents]] before the distributor starts."""

from __future__ import annotations

from collections.abc import Sequence

from ivr.core.config import AgentConfig, QueueConfig
from ivr.queues.model import QueueError

STRATEGIES = ("longest_idle", "round_robin")
NO_ANSWER_STATES = ("not_ready", "available")


def validate(queues: Sequence[QueueConfig], agents: Sequence[AgentConfig]) -> None:
    """Raise QueueError naming the first problem in the ACD configuration."""
    names = [q.name for q in queues]
    if any(not n for n in names):
        raise QueueError("a [[queues]] entry has no name; give every queue a unique name")
    if len(set(names)) != len(names):
        raise QueueError(f"duplicate queue names in [[queues]]: {sorted(n for n in names if names.count(n) > 1)}")
    by_name = {q.name: q for q in queues}
    for q in queues:
        if q.strategy not in STRATEGIES:
            raise QueueError(f"queue {q.name!r}: strategy {q.strategy!r} is unknown; use one of {STRATEGIES}")
        if q.no_answer not in NO_ANSWER_STATES:
            raise QueueError(f"queue {q.name!r}: no_answer {q.no_answer!r} is unknown; use one of {NO_ANSWER_STATES}")
        for key in ("max_wait", "announce_interval", "wrap_up", "ring_timeout", "handle_time", "service_level_seconds",
                    "wait_alert_seconds"):
            if getattr(q, key) < 0:
                raise QueueError(f"queue {q.name!r}: {key} must not be negative")
        if not 0 <= q.service_level_target <= 1:
            raise QueueError(f"queue {q.name!r}: service_level_target is a share from 0 to 1, e.g. 0.8 for 80%")
        if q.ring_timeout <= 0:
            raise QueueError(f"queue {q.name!r}: ring_timeout must be more than 0 seconds")
        seen = [q.name]
        target = q.overflow
        while target.startswith("queue:"):
            nxt = target[len("queue:") :]
            if nxt not in by_name:
                raise QueueError(f"queue {seen[-1]!r} overflows to unknown queue {nxt!r}; add it to [[queues]]")
            if nxt in seen:
                raise QueueError(f"queue overflow loops: {' -> '.join([*seen, nxt])}; end the chain at voicemail")
            seen.append(nxt)
            target = by_name[nxt].overflow
    ids = [a.id for a in agents]
    if any(not i for i in ids):
        raise QueueError("an [[agents]] entry has no id; give every agent a unique id")
    if len(set(ids)) != len(ids):
        raise QueueError(f"duplicate agent ids in [[agents]]: {sorted(i for i in ids if ids.count(i) > 1)}")
    for a in agents:
        unknown = [name for name in a.queues if name not in by_name]
        if unknown:
            raise QueueError(f"agent {a.id!r} is in unknown queue(s) {unknown}; known queues: {sorted(by_name)}")
