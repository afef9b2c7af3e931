"""What the live floor shows, as plain data: calls in progress, queues, agents, reply latency, alerts.

These dataclasses are the live floor's snapshot (`LiveFloor.snapshot()`), served as JSON by ivr.web.live;
`LiveCalls` applies the bus's records to the calls in progress, by the same rules static/js/live.js applies them
in the browser, so a snapshot and the stream of records after it always agree.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ivr.session.alerts import Alert
from ivr.session.bus import Record

# Where a call is: in the flow (at a step), waiting in a queue, ringing an agent, talking to one, or overflowed.
PHASES = ("flow", "queue", "ringing", "agent", "overflow")


@dataclass
class Turn:
    """One turn of a live transcript: who spoke (caller, ivr or agent), what, and the intent the flow took from it."""

    t: float
    speaker: str
    text: str
    intent: str = ""
    confidence: float | None = None


@dataclass
class LiveCall:
    """A call in progress; `since` is the wall time it reached its current step, queue or agent."""

    call_id: str
    caller: str
    flow: str
    version: int | None
    started: float
    phase: str = "flow"
    step: str = ""
    since: float = 0.0
    queue: str = ""
    agent: str = ""
    last: str = ""  # the newest turn, as a line
    turns: int = 0


@dataclass
class QueueView:
    """A queue now and today (UTC day): waiting callers, figures, targets, who could take a call."""

    name: str
    mode: str
    waiting: int
    longest_wait: float
    offered_today: int
    answered_today: int
    abandoned_today: int
    service_level: float | None  # answered within service_level_seconds / (answered + abandoned), today
    service_level_seconds: float
    service_level_target: float
    wait_alert_seconds: float
    available_agents: list[str]


@dataclass
class AgentView:
    """An agent's state and since when (wall time), the call they are on, their queues."""

    id: str
    name: str
    state: str
    since: float
    call_id: str
    queues: list[str]


@dataclass
class LatencyView:
    """End-of-speech-to-reply latency of each turn of the last minutes: (wall time, seconds) points, percentiles."""

    window_seconds: float
    limit: float
    count: int
    p50: float | None
    p95: float | None
    points: list[tuple[float, float]]


@dataclass
class FloorView:
    """The whole floor at `now` (wall time), up to bus record `seq`."""

    now: float
    seq: int
    calls: list[LiveCall]
    queues: list[QueueView]
    agents: list[AgentView]
    latency: LatencyView
    alerts: list[Alert]
    workers_up: int | None
    workers_expected: int


@dataclass
class _Live:
    call: LiveCall
    turns: deque[Turn]
    path: list[str] = field(default_factory=list)  # the flow steps the call went through, in order


@dataclass
class LiveCalls:
    """The calls in progress with their transcripts, kept up to date from bus records."""

    max_turns: int = 200
    calls: dict[str, _Live] = field(default_factory=dict)

    def apply(self, r: Record) -> None:
        """Apply one bus record to the call it names (records of no live call change nothing)."""
        kind, cid, t = r["kind"], r.get("call_id", ""), r["t"]
        if kind == "call_offered":
            call = LiveCall(cid, r.get("caller", ""), r.get("flow", ""), r.get("version"), t, since=t)
            self.calls[cid] = _Live(call, deque(maxlen=self.max_turns))
            return
        live = self.calls.get(cid)
        if live is None:
            return
        c = live.call
        if kind in ("hangup", "call_ended"):
            del self.calls[cid]
        elif kind == "step_entered":
            c.step, c.since = r.get("step", ""), t
            live.path.append(c.step)
        elif kind in ("say", "play"):
            self._turn(live, Turn(t, "ivr", r.get("text", "")))
        elif kind == "intent_detected":
            self._turn(live, Turn(t, "caller", r.get("text", ""), r.get("intent", ""), r.get("confidence")))
        elif kind == "bridged_turn":  # the caller or the agent, talking on the bridged call
            self._turn(live, Turn(t, r.get("speaker", "caller"), r.get("text", ""), confidence=r.get("confidence")))
        elif kind == "enqueued":
            c.phase, c.queue, c.agent, c.since = "queue", r.get("queue", ""), "", t
        elif kind == "offered":
            c.phase, c.agent = "ringing", r.get("agent_id", "")
        elif kind in ("no_answer", "offer_cancelled") and c.phase == "ringing":
            c.phase, c.agent = "queue", ""
        elif kind == "answered":
            c.phase, c.agent, c.since = "agent", r.get("agent_id", ""), t
        elif kind == "overflow" and not str(r.get("target", "")).startswith("queue:"):
            c.phase, c.step, c.agent, c.since = "overflow", r.get("target", ""), "", t

    @staticmethod
    def _turn(live: _Live, turn: Turn) -> None:
        live.turns.append(turn)
        live.call.turns += 1
        who = {"caller": "Caller", "agent": "Agent"}.get(turn.speaker, "IVR")
        live.call.last = f"{who}: {turn.text}"

    def path(self, call_id: str) -> list[str]:
        """The flow steps a live call went through so far ([] once it ended)."""
        live = self.calls.get(call_id)
        return [] if live is None else list(live.path)

    def transcript(self, call_id: str) -> tuple[LiveCall, list[Turn]] | None:
        """A live call and its turns so far (None once it ended)."""
        live = self.calls.get(call_id)
        return None if live is None else (live.call, list(live.turns))
