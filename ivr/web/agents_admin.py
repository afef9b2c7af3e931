"""Agents, their skills and queues, managed by admins and supervisors (seeded from config.toml on first start).

Every change is validated as a whole roster (the ACD's own checks), stored, audited, and applied to the running Acd
at once: a new agent starts logged out, an agent taken off logs out after their call, callers already waiting keep
their place.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Literal

from pydantic import BaseModel, Field

from ivr.core.config import AgentConfig, QueueConfig
from ivr.core.errors import IvrError
from ivr.queues import QueueError
from ivr.queues.validate import validate
from ivr.web.api import STAFF, Api, ApiCall, ApiError

api = Api()
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class AgentOut(BaseModel):
    """An agent: SIP address dialled for calls, queues served, skills, the console user who works as it, state."""

    id: str
    name: str
    sip_uri: str
    queues: list[str]
    skills: list[str]
    user: str
    state: str


class QueueOut(BaseModel):
    """A queue's settings (see [[queues]] in config.toml for what each one does)."""

    name: str
    strategy: str
    max_wait: float
    overflow: str
    overflow_when_no_agents: bool
    announce_interval: float
    wrap_up: float
    ring_timeout: float
    no_answer: str
    handle_time: float
    hold_music: str
    service_level_seconds: float
    service_level_target: float
    wait_alert_seconds: float
    survey: bool = False  # the after-call survey when the agent hangs up first


class Roster(BaseModel):
    """Every agent and queue; `users` are the console users an agent can be linked to; `running`: an Acd is live."""

    agents: list[AgentOut]
    queues: list[QueueOut]
    users: list[str]
    running: bool


class AgentBody(BaseModel):
    """An agent's settings; `user` links a console user ('' : the user whose name is the agent id, if any)."""

    name: str = Field(default="", max_length=255)
    sip_uri: str = Field(pattern=r"^sips?:\S+@\S+$", max_length=255)
    queues: list[str] = Field(default_factory=list, max_length=50)
    skills: list[str] = Field(default_factory=list, max_length=50)
    user: str = Field(default="", max_length=128)


class QueueBody(BaseModel):
    """A queue's settings; left out: the defaults."""

    strategy: Literal["longest_idle", "round_robin"] = "longest_idle"
    max_wait: float = Field(default=300.0, ge=0)
    overflow: str = Field(default="voicemail", max_length=255)
    overflow_when_no_agents: bool = True
    announce_interval: float = Field(default=30.0, ge=0)
    wrap_up: float = Field(default=10.0, ge=0, le=3600)
    ring_timeout: float = Field(default=20.0, gt=0, le=600)
    no_answer: Literal["not_ready", "available"] = "not_ready"
    handle_time: float = Field(default=180.0, ge=0)
    hold_music: str = Field(default="", max_length=255)
    service_level_seconds: float = Field(default=20.0, ge=0)
    service_level_target: float = Field(default=0.8, ge=0, le=1)
    wait_alert_seconds: float = Field(default=120.0, ge=0)
    survey: bool = False  # ask callers to rate the call 1-5 after the agent hangs up first


class Removed(BaseModel):
    """What was taken off the roster."""

    removed: str


async def _roster(call: ApiCall) -> Roster:
    queues, agents = await call.ctx.store.desk.roster()
    acd = call.ctx.desk.acd if call.ctx.desk is not None else None
    known = {q.name for q in queues}
    running = [q for q in (acd.queues.values() if acd else []) if q.name not in known]  # defaults a flow uses
    users = [u.username for u in await call.ctx.store.console.list_users() if u.role == "agent" and not u.disabled]

    def state(agent_id: str) -> str:
        return acd.distributor.agent_state(agent_id).value if acd and agent_id in acd.agents else "offline"

    return Roster(
        agents=[AgentOut(id=a.config.id, name=a.config.name, sip_uri=a.config.sip_uri, queues=list(a.config.queues),
                         skills=list(a.config.skills), user=a.user, state=state(a.config.id)) for a in agents],
        queues=[QueueOut(**dataclasses.asdict(q)) for q in sorted([*queues, *running], key=lambda q: q.name)],
        users=sorted(users), running=acd is not None,
    )  # fmt: skip


@api.route("GET", "/api/agents", roles=STAFF, summary="List agents and queues", tag="agents", response=Roster)
async def roster(call: ApiCall) -> Roster:
    """Every active agent (with its state when `ivr serve` runs) and queue."""
    return await _roster(call)


api.page("/agents", "agents_admin.html", title="Agents and queues", roles=STAFF, route=roster)


async def _check_roster(call: ApiCall, queues: list[QueueConfig], agents: list[AgentConfig]) -> None:
    """Validate the roster as it will be (QueueError -> 400); the caller stores it; `_apply` makes it live."""
    desk = call.ctx.desk
    running = list(desk.acd.queues.values()) if desk is not None else []
    names = {q.name for q in queues}
    whole = [*queues, *(q for q in running if q.name not in names)]  # queues a flow uses keep their defaults
    try:
        validate(whole, agents)
    except QueueError as exc:
        raise ApiError(400, str(exc)) from None


async def _apply(call: ApiCall) -> None:
    if call.ctx.desk is not None:
        try:
            await call.ctx.desk.reload_roster()
        except QueueError as exc:  # validated before storing, so only a concurrent edit gets here
            raise ApiError(409, f"stored, but not applied to the running ACD: {exc}") from None


def _clean(items: list[str], what: str) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(x.strip() for x in items if x.strip()))
    bad = [x for x in out if not re.match(_NAME, x)]
    if bad:
        raise ApiError(400, f"{what} {bad} must be letters, digits, '_', '.' or '-' (up to 64)")
    return out


@api.route("PUT", "/api/agents/{agent_id}", roles=STAFF, summary="Create or change an agent", tag="agents",
           body=AgentBody, response=Roster)  # fmt: skip
async def put_agent(call: ApiCall) -> Roster:
    """Stored and applied to the running ACD at once (a new agent starts logged out)."""
    agent_id, body = call.params["agent_id"], call.body
    if not re.match(_NAME, agent_id):
        raise ApiError(400, "an agent id is letters, digits, '_', '.' or '-' (up to 64), e.g. ann or agent.7")
    new = AgentConfig(id=agent_id, name=body.name.strip(), sip_uri=body.sip_uri.strip(),
                      queues=_clean(body.queues, "queues"), skills=_clean(body.skills, "skills"))  # fmt: skip
    queues, agents = await call.ctx.store.desk.roster()
    others = [a.config for a in agents if a.config.id != agent_id]
    await _check_roster(call, queues, [*others, new])
    try:
        await call.ctx.store.desk.save_agent(new, user=body.user.strip())
    except IvrError as exc:
        raise ApiError(400, str(exc)) from None
    await call.audit("agent.save", agent_id, queues=list(new.queues), skills=list(new.skills), user=body.user)
    await _apply(call)
    return await _roster(call)


@api.route("DELETE", "/api/agents/{agent_id}", roles=STAFF, summary="Remove an agent", tag="agents",
           response=Removed)  # fmt: skip
async def delete_agent(call: ApiCall) -> Removed:
    """The agent logs out (after the call they are on) and takes no more calls; their past calls stay."""
    agent_id = call.params["agent_id"]
    if not await call.ctx.store.desk.remove_agent(agent_id):
        raise ApiError(404, f"there is no agent {agent_id!r}")
    await call.audit("agent.remove", agent_id)
    await _apply(call)
    return Removed(removed=agent_id)


@api.route("PUT", "/api/queues/{name}", roles=STAFF, summary="Create or change a queue", tag="agents",
           body=QueueBody, response=Roster)  # fmt: skip
async def put_queue(call: ApiCall) -> Roster:
    """Stored and applied at once: callers already waiting keep their place and get the new settings."""
    name = call.params["name"]
    if not re.match(_NAME, name):
        raise ApiError(400, "a queue name is letters, digits, '_', '.' or '-' (up to 64), e.g. support")
    new = QueueConfig(name=name, **call.body.model_dump())
    queues, agents = await call.ctx.store.desk.roster()
    await _check_roster(call, [*(q for q in queues if q.name != name), new], [a.config for a in agents])
    await call.ctx.store.desk.save_queue(new, by=call.user.username)
    await call.audit("queue.save", name, **call.body.model_dump())
    await _apply(call)
    return await _roster(call)


@api.route("DELETE", "/api/queues/{name}", roles=STAFF, summary="Remove a queue", tag="agents", response=Removed)
async def delete_queue(call: ApiCall) -> Removed:
    """Refused while agents serve it; a flow that still transfers to it gets the default settings."""
    name = call.params["name"]
    queues, agents = await call.ctx.store.desk.roster()
    serving = [a.config.id for a in agents if name in a.config.queues]
    if serving:
        raise ApiError(409, f"agents {serving} serve queue {name}; take it off them first")
    if any(q.overflow == f"queue:{name}" for q in queues):
        raise ApiError(409, f"another queue overflows to {name}; change its overflow first")
    if not await call.ctx.store.desk.remove_queue(name, by=call.user.username):
        raise ApiError(404, f"there is no queue {name!r}")
    await call.audit("queue.remove", name)
    await _apply(call)
    return Removed(removed=name)
