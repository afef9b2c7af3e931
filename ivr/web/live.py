"""The live floor for supervisors: a snapshot, a stream of the calls' events (SSE), live transcripts, actions.

`GET /api/live` is the floor now; `GET /api/live/stream` sends that snapshot first and then every record the
session layer publishes on its CallBus, as server-sent events, so the page never polls and nothing here reads the
database. A browser that falls behind gets a fresh snapshot instead of what it missed. Pausing or draining a queue
and logging an agent out go through the Acd, and are audited.
"""

from __future__ import annotations

import asyncio
import json
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from ivr.queues import QueueError
from ivr.session.alerts import Alert
from ivr.session.live_floor import LiveFloor
from ivr.session.live_view import AgentView, FloorView, LatencyView, LiveCall, QueueView, Turn
from ivr.web.api import STAFF, Api, ApiCall, ApiError
from ivr.web.context import CONTEXT

api = Api()
# A comment line this often keeps proxies from closing a quiet stream and finds browsers that went away.
HEARTBEAT_SECONDS = 15.0
NOT_RUNNING = "the live floor runs inside `ivr serve`; this console has no calls to show"


class LiveSnapshot(BaseModel):
    """The floor now: calls in progress, queues, agents, reply latency, alerts; `seq` is the newest record in it."""

    running: bool
    now: float
    seq: int
    calls: list[LiveCall]
    queues: list[QueueView]
    agents: list[AgentView]
    latency: LatencyView
    alerts: list[Alert]
    workers_up: int | None
    workers_expected: int
    stream_minutes: float


class StreamQuery(BaseModel):
    """`once`: send the snapshot and end the stream (for scripts and checks)."""

    once: bool = False


class LiveTranscript(BaseModel):
    """A call in progress and its transcript so far; the stream's say/intent_detected records extend it."""

    call: LiveCall
    turns: list[Turn]
    seq: int


class QueueModeBody(BaseModel):
    """open: offer callers to agents; paused: callers wait, nobody is offered one; draining: no new callers."""

    mode: Literal["open", "paused", "draining"]


class QueueState(BaseModel):
    """The queue after the action."""

    queue: QueueView


class AgentLogout(BaseModel):
    """The agent's state after the action (busy agents log out when their call ends)."""

    agent_id: str
    state: str


def _snapshot(live: LiveFloor | None) -> LiveSnapshot:
    if live is None:
        empty = FloorView(0.0, 0, [], [], [], LatencyView(0.0, 0.0, 0, None, None, []), [], None, 0)
        return LiveSnapshot(running=False, stream_minutes=0.0, **vars(empty))
    return LiveSnapshot(running=True, stream_minutes=live.config.stream_minutes, **vars(live.snapshot()))


def _floor(call: ApiCall) -> LiveFloor:
    live = call.ctx.live
    if live is None or live.acd is None:
        raise ApiError(503, NOT_RUNNING)
    return live


@api.route("GET", "/api/live", roles=STAFF, summary="Show the live floor", tag="live", response=LiveSnapshot)
async def snapshot(call: ApiCall) -> LiveSnapshot:
    """Calls in progress, queues, agents, the latest reply latencies and active alerts (in-memory, no database)."""
    return _snapshot(call.ctx.live)


api.page("/live", "live.html", title="Live floor", roles=STAFF, route=snapshot)


@api.route("GET", "/api/live/stream", roles=STAFF, summary="Stream the live floor (server-sent events)", tag="live",
           query=StreamQuery, content_type="text/event-stream")  # fmt: skip
async def stream(call: ApiCall) -> web.StreamResponse:
    """`snapshot` first, then `records` (batches of bus records) as they happen; `bye` when the stream is renewed."""
    live = call.ctx.live
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})  # fmt: skip
    await response.prepare(call.request)
    sub = None if live is None else live.bus.subscribe(maxlen=live.config.stream_buffer, tag="web")
    try:
        first = _snapshot(live)  # taken after subscribing: every record after first.seq reaches `sub`
        await _send(response, "snapshot", first.model_dump_json(), first.seq)
        if sub is None or call.query.once:
            return response
        loop = asyncio.get_running_loop()
        renew_at = loop.time() + live.config.stream_minutes * 60  # type: ignore[union-attr]
        while not sub.closed and loop.time() < renew_at:
            batch = await sub.next_batch(min(HEARTBEAT_SECONDS, max(0.0, renew_at - loop.time())))
            if sub.take_dropped():  # this browser fell behind: a fresh snapshot replaces what it missed
                fresh = _snapshot(live)
                await _send(response, "snapshot", fresh.model_dump_json(), fresh.seq)
            elif batch:
                await _send(response, "records", json.dumps(batch, separators=(",", ":")), batch[-1]["seq"])
            elif not sub.closed:
                await response.write(b": keep-alive\n\n")
        await _send(response, "bye", "{}", None)  # the page checks its login and opens a new stream
    except ConnectionError:
        pass  # the browser went away
    finally:
        if sub is not None:
            sub.close()
    return response


async def _send(response: web.StreamResponse, event: str, data: str, seq: int | None) -> None:
    head = f"event: {event}\n" + (f"id: {seq}\n" if seq is not None else "")
    await response.write(f"{head}data: {data}\n\n".encode())


async def _end_streams(app: web.Application) -> None:
    """At shutdown, end every open stream at once (the server would otherwise wait for them)."""
    live = app[CONTEXT].live
    if live is not None:
        live.bus.close("web")


api.on_shutdown.append(_end_streams)


@api.route("GET", "/api/live/calls/{call_id}", roles=STAFF, summary="Show a live call's transcript", tag="live",
           response=LiveTranscript)  # fmt: skip
async def live_call(call: ApiCall) -> LiveTranscript:
    """The call's place and every turn so far; 404 once it has ended (its record is then under Calls)."""
    live = call.ctx.live
    found = live.calls.transcript(call.params["call_id"]) if live is not None else None
    if found is None or live is None:
        raise ApiError(404, f"call {call.params['call_id']} is not in progress; find it under Calls once it has ended",
                       calls=f"/calls/{call.params['call_id']}")  # fmt: skip
    return LiveTranscript(call=found[0], turns=found[1], seq=live.bus.seq)


@api.route("POST", "/api/live/queues/{queue}/mode", roles=STAFF, summary="Open, pause or drain a queue", tag="live",
           body=QueueModeBody, response=QueueState)  # fmt: skip
async def queue_mode(call: ApiCall) -> QueueState:
    """Paused: callers wait and no agent is offered one; draining: callers waiting are served, new ones are not."""
    live, name = _floor(call), call.params["queue"]
    try:
        live.set_queue_mode(name, call.body.mode, by=call.user.username)
    except QueueError as exc:
        raise ApiError(404, str(exc)) from None
    await call.audit("queue.mode", name, mode=call.body.mode)
    return QueueState(queue=next(q for q in live.snapshot().queues if q.name == name))


@api.route("POST", "/api/live/agents/{agent_id}/logout", roles=STAFF, summary="Log an agent out", tag="live",
           response=AgentLogout)  # fmt: skip
async def agent_logout(call: ApiCall) -> AgentLogout:
    """Log the agent out now, or when the call they are on ends; a ringing offer goes to the next agent."""
    live, agent_id = _floor(call), call.params["agent_id"]
    try:
        state = live.logout_agent(agent_id, by=call.user.username)
    except QueueError as exc:
        raise ApiError(404, str(exc)) from None
    await call.audit("agent.logout", agent_id, state=state)
    return AgentLogout(agent_id=agent_id, state=state)

