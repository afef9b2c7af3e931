"""The agent desktop: the agent's state, the screen pop of the call offered to them, its live transcript, wrap-up.

`GET /api/desk` is the agent's desk now (in memory: the Acd and the AgentDesk's card); `GET /api/desk/stream` sends
it first and then, as server-sent events, the bus records that concern this agent: their state changes, the screen
pop of a call offered to them (their phone is dialled once the page says it shows it, `POST .../shown`) and that
call's turns and end. Closing the page
changes nothing for the call; opening it again shows the call where it is. At the end the agent saves a disposition
from the configured list and notes; they are stored with the call and shown on its QA page.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from ivr.core.config import DeskConfig
from ivr.core.errors import IvrError
from ivr.queues import QueueError
from ivr.session.desk import AgentDesk
from ivr.session.live_view import Turn
from ivr.web.api import Api, ApiCall, ApiError
from ivr.web.context import CONTEXT

api = Api()
AGENT = frozenset({"agent"})
HEARTBEAT_SECONDS = 15.0
NOT_RUNNING = "the agent desk works inside `ivr serve`; this console has no calls to offer"
_STORE_WAIT_SECONDS = 5.0  # a call's row is written behind; a disposition saved at once waits for it this long


class DeskAgent(BaseModel):
    """The agent this user works as, and their state (available, ringing, busy, wrap_up, not_ready, offline)."""

    id: str
    name: str
    state: str
    since: float
    reason: str
    wrap_ends: float | None
    queues: list[str]
    skills: list[str]


class DeskCall(BaseModel):
    """The call on the desk: the screen pop, the transcript so far, and where it is."""

    call_id: str
    phase: str
    pop: dict[str, Any]
    turns: list[Turn]
    popped_at: float
    ended_at: float | None
    disposition: str
    notes: str


class DeskView(BaseModel):
    """The agent's desk now; `seq` is the newest bus record in it (the stream continues after it)."""

    running: bool
    now: float
    seq: int
    agent: DeskAgent | None
    call: DeskCall | None
    reasons: list[str]
    dispositions: list[str]
    problem: str


class StateBody(BaseModel):
    """available; not_ready with a reason from the configured list; logged_out."""

    state: Literal["available", "not_ready", "logged_out"]
    reason: str = ""


class DispositionBody(BaseModel):
    """A disposition from the configured list and free notes; `ready` ends wrap-up at once."""

    disposition: str = Field(min_length=1, max_length=128)
    notes: str = Field(default="", max_length=10_000)
    ready: bool = False


class DispositionSaved(BaseModel):
    """What was stored with the call."""

    call_id: str
    agent_id: str
    disposition: str
    notes: str
    by: str


def _config(call: ApiCall) -> DeskConfig:
    return call.ctx.desk.config if call.ctx.desk is not None else DeskConfig()


async def _agent_id(call: ApiCall, desk: AgentDesk) -> str:
    ids = await call.ctx.store.qa.agent_ids_of(call.user.username)
    for agent_id in ids:
        if agent_id in desk.acd.agents:
            return agent_id
    raise ApiError(409, f"your user {call.user.username} is not an agent of the ACD; ask a supervisor to link it to "
                        "an agent under Agents (or to create an agent with your user name as its id)")  # fmt: skip


def _desk(call: ApiCall) -> AgentDesk:
    if call.ctx.desk is None:
        raise ApiError(503, NOT_RUNNING)
    return call.ctx.desk


def _view(call: ApiCall, desk: AgentDesk | None, agent_id: str | None, problem: str = "") -> DeskView:
    cfg = _config(call)
    if desk is not None and agent_id is not None and agent_id not in desk.acd.agents:
        agent_id, problem = None, f"agent {agent_id} was taken off the roster; ask a supervisor (Agents)"
    if desk is None or agent_id is None:
        return DeskView(running=desk is not None, now=0.0, seq=0, agent=None, call=None,
                        reasons=list(cfg.not_ready_reasons), dispositions=list(cfg.dispositions),
                        problem=problem or NOT_RUNNING)  # fmt: skip
    seq = desk.live.bus.seq
    state, since, reason, wrap = desk.state(agent_id)  # catches the desk up to `seq`
    a = desk.acd.agents[agent_id]
    card = desk.card(agent_id)
    agent = DeskAgent(id=agent_id, name=a.name or agent_id, state=state, since=since, reason=reason, wrap_ends=wrap,
                      queues=list(a.queues), skills=list(a.skills))  # fmt: skip
    current = None
    if card is not None:
        current = DeskCall(call_id=card.call_id, phase=card.phase, pop=card.pop, turns=card.turns,
                           popped_at=card.popped_at, ended_at=card.ended_at, disposition=card.disposition,
                           notes=card.notes)  # fmt: skip
    return DeskView(running=True, now=time.time(), seq=seq, agent=agent, call=current,
                    reasons=list(cfg.not_ready_reasons), dispositions=list(cfg.dispositions), problem="")  # fmt: skip


@api.route("GET", "/api/desk", roles=AGENT, summary="Show my agent desk", tag="desk", response=DeskView)
async def desk_view(call: ApiCall) -> DeskView:
    """My state, the call offered to me or on my line (screen pop and transcript so far), the lists to pick from."""
    desk = call.ctx.desk
    if desk is None:
        return _view(call, None, None)
    try:
        agent_id = await _agent_id(call, desk)
    except ApiError as exc:
        return _view(call, desk, None, exc.message)
    return _view(call, desk, agent_id)


api.page("/desk", "agent_desk.html", title="Agent desk", roles=AGENT, route=desk_view)


@api.route("GET", "/api/desk/stream", roles=AGENT, summary="Stream my agent desk (server-sent events)", tag="desk",
           content_type="text/event-stream")  # fmt: skip
async def stream(call: ApiCall) -> web.StreamResponse:
    """`desk` first, then `records` concerning me (state, screen pop, my call's turns and end); `bye` to renew."""
    desk = _desk(call)
    agent_id = await _agent_id(call, desk)
    live = desk.live
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})  # fmt: skip
    await response.prepare(call.request)
    sub = live.bus.subscribe(maxlen=live.config.stream_buffer, tag="web")
    desk.stream_opened(agent_id)
    try:
        first = _view(call, desk, agent_id)  # after subscribing: every record after first.seq reaches `sub`
        await _send(response, "desk", first.model_dump_json(), first.seq)
        calls = {first.call.call_id} if first.call else set()
        loop = asyncio.get_running_loop()
        renew_at = loop.time() + live.config.stream_minutes * 60
        while not sub.closed and loop.time() < renew_at:
            batch = await sub.next_batch(min(HEARTBEAT_SECONDS, max(0.0, renew_at - loop.time())))
            if sub.take_dropped():
                fresh = _view(call, desk, agent_id)
                calls = {fresh.call.call_id} if fresh.call else set()
                await _send(response, "desk", fresh.model_dump_json(), fresh.seq)
                continue
            mine = []
            for r in batch:
                if r["seq"] <= first.seq:
                    continue
                if r["kind"] == "screen_pop" and r.get("agent_id") == agent_id:
                    calls = {r["call_id"]}
                if r.get("agent_id") == agent_id or r.get("call_id") in calls:
                    mine.append(r)
            if mine:
                await _send(response, "records", json.dumps(mine, separators=(",", ":")), mine[-1]["seq"])
            elif not batch and not sub.closed:
                await response.write(b": keep-alive\n\n")
        await _send(response, "bye", "{}", None)
    except ConnectionError:
        pass  # the browser went away; the call goes on
    finally:
        desk.stream_closed(agent_id)
        sub.close()
    return response


async def _send(response: web.StreamResponse, event: str, data: str, seq: int | None) -> None:
    head = f"event: {event}\n" + (f"id: {seq}\n" if seq is not None else "")
    await response.write(f"{head}data: {data}\n\n".encode())


async def _end_streams(app: web.Application) -> None:
    """At shutdown, end every open desk stream at once."""
    desk = app[CONTEXT].desk
    if desk is not None:
        desk.live.bus.close("web")


api.on_shutdown.append(_end_streams)


@api.route("POST", "/api/desk/state", roles=AGENT, summary="Set my agent state", tag="desk", body=StateBody,
           response=DeskView)  # fmt: skip
async def set_state(call: ApiCall) -> DeskView:
    """available (also ends wrap-up early), not_ready with a configured reason, or logged_out (after the call)."""
    desk = _desk(call)
    agent_id = await _agent_id(call, desk)
    body: StateBody = call.body
    reasons = desk.config.not_ready_reasons
    if body.state == "not_ready" and body.reason not in reasons:
        raise ApiError(400, f"pick a not-ready reason from the list: {', '.join(reasons)}")
    try:
        desk.set_state(agent_id, body.state, body.reason if body.state == "not_ready" else "")
    except QueueError as exc:
        raise ApiError(409, str(exc)) from None
    await call.audit("agent.state", agent_id, state=body.state, reason=body.reason)
    return _view(call, desk, agent_id)


class PopShown(BaseModel):
    """The pop the desk shows."""

    call_id: str


@api.route("POST", "/api/desk/calls/{call_id}/shown", roles=AGENT, summary="Say my desk shows a call's screen pop",
           tag="desk", response=PopShown)  # fmt: skip
async def pop_shown(call: ApiCall) -> PopShown:
    """The page shows the pop: the agent's phone, waiting for this (a moment at most), is dialled now."""
    desk = _desk(call)
    desk.shown(await _agent_id(call, desk), call.params["call_id"])
    return PopShown(call_id=call.params["call_id"])


@api.route("POST", "/api/desk/calls/{call_id}/disposition", roles=AGENT, summary="Save a call's disposition and notes",
           tag="desk", body=DispositionBody, response=DispositionSaved)  # fmt: skip
async def save_disposition(call: ApiCall) -> DispositionSaved:
    """Stored with the call (shown on its QA page); saving again replaces them. `ready` ends wrap-up at once."""
    desk, call_id, body = call.ctx.desk, call.params["call_id"], call.body
    dispositions = _config(call).dispositions
    if body.disposition not in dispositions:
        raise ApiError(400, f"pick a disposition from the list: {', '.join(dispositions)}")
    mine = await call.ctx.store.qa.agent_ids_of(call.user.username)
    working_as = [a for a in mine if desk is not None and a in desk.acd.agents]
    card = desk.card(working_as[0]) if desk is not None and working_as else None
    agent_id = card.agent_id if card is not None and card.call_id == call_id else ""
    if not agent_id:
        await call.ctx.store.flush(_STORE_WAIT_SECONDS)
        agent_id = await call.ctx.store.desk.call_agent(call_id) or ""
        if agent_id not in mine:
            raise ApiError(404, f"call {call_id} is not one of your calls; open it from your desk or your Calls list")
    await call.ctx.store.flush(_STORE_WAIT_SECONDS)  # the call's row is written behind the call
    try:
        row = await call.ctx.store.desk.save_disposition(call_id, agent_id=agent_id, disposition=body.disposition,
                                                         notes=body.notes, by=call.user.username)  # fmt: skip
    except IvrError as exc:
        raise ApiError(409, str(exc)) from None
    if desk is not None:
        desk.noted(agent_id, call_id, body.disposition, body.notes)
        if body.ready and desk.acd.status(agent_id).state.value == "wrap_up":
            desk.set_state(agent_id, "available")
    await call.audit("call.disposition", call_id, disposition=body.disposition)
    return DispositionSaved(call_id=call_id, agent_id=agent_id, disposition=row.disposition, notes=row.notes,
                            by=row.by)  # fmt: skip
