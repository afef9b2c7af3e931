"""Changing a running distributor's agents and queues (the console edits them) without losing who is doing what.

Agents keep their state, their call and their place in the idle order; a new agent starts logged out; an agent taken
off the roster is logged out (after the call they are on) and stops serving queues. A queue keeps its waiting
callers, mode and running handle time; a queue that is no longer configured but still named gets default settings
(the caller decides which names stay). Lives beside the distributor, whose bookkeeping it updates, because the
distributor module is already at its size limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ivr.core.config import AgentConfig, QueueConfig
from ivr.queues.distributor import CallDistributor
from ivr.queues.model import AgentState, Decision
from ivr.queues.state import AgentRecord, QueueRecord
from ivr.queues.validate import validate


@dataclass(frozen=True)
class AgentStatus:
    """What an agent is doing: state, the call they are on or rung for, when wrap-up ends, the state after the call."""

    state: AgentState
    call_id: str | None
    wrap_until: float | None  # the distributor's clock
    after_call: AgentState | None


def apply_roster(dist: CallDistributor, queues: Sequence[QueueConfig], agents: Sequence[AgentConfig]) -> list[Decision]:
    """Make `dist` serve these queues with these agents; returns the decisions that follow (logouts, offers)."""
    validate(queues, agents)
    out: list[Decision] = []
    wanted = {a.id for a in agents}
    for agent_id, rec in list(dist._agents.items()):
        if agent_id not in wanted and rec.state is not AgentState.OFFLINE:
            out += dist.logout(agent_id)  # after their call, if on one
    for a in agents:
        known = dist._agents.get(a.id)
        if known is None:
            dist._agents[a.id] = AgentRecord(a, frozenset(a.skills))
        else:
            known.cfg, known.skills = a, frozenset(a.skills)
    for q in queues:
        members = [a.id for a in agents if q.name in a.queues]
        qrec = dist._queues.get(q.name)
        if qrec is None:
            dist._queues[q.name] = QueueRecord(q, members, q.handle_time)
        else:
            qrec.cfg, qrec.members = q, members
            qrec.rr_next = qrec.rr_next % len(members) if members else 0
    now = dist._clock()
    dist._dispatch(now, out)  # new skills or queues may let an available agent take a waiting caller
    return out


def agent_status(dist: CallDistributor, agent_id: str) -> AgentStatus:
    """An agent's state with its call and wrap-up end (QueueError for an unknown agent)."""
    rec = dist._agent(agent_id)
    return AgentStatus(rec.state, rec.call_id, rec.wrap_until, rec.after_call)
