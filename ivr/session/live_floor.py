"""LiveFloor: the supervisors' live view of this control process, fed by the calls' own events.

It is fed where FloorStats is: as a CallJournal in the JournalTee (steps, turns, intents, hang-ups), as an
observer of the Acd (queue and agent decisions), by FloorStats' reply latencies, and by `ivr serve` when a call
starts and ends. Each input becomes one record on the CallBus, which browsers stream, and is applied here by the
rules the page applies it with. Every input returns at once; nothing here waits on a call, and nothing reads the
database while calls run (today's queue figures are read once at start-up, then counted from the records).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ivr.core.config import LiveConfig
from ivr.core.errors import ConfigError
from ivr.core.events import BridgedTurn, Event, Hangup, IntentDetected, Play, Say, StepEntered
from ivr.queues import (
    Abandoned,
    AgentState,
    AgentStateChanged,
    CancelOffer,
    Connected,
    Decision,
    Enqueued,
    NoAnswer,
    Offer,
    Overflow,
)
from ivr.session.alerts import AlertBook, FloorFacts, QueueFacts, missed_targets, post_webhook, webhook_body
from ivr.session.bus import CallBus, Record
from ivr.session.flow_call import _number as caller_number
from ivr.session.live_view import AgentView, FloorView, LatencyView, LiveCalls, QueueView

if TYPE_CHECKING:
    from ivr.session.acd import Acd
    from ivr.session.floor import FloorStats
    from ivr.storage import CallStore

log = logging.getLogger("ivr.live")


@dataclass
class _Day:
    """A queue's figures of one UTC day."""

    offered: int = 0
    answered: int = 0
    within: int = 0  # answered within the queue's service level threshold
    abandoned: int = 0


class LiveFloor:
    """Calls, queues, agents, reply latency and alerts, live; publishes every change on `bus`."""

    def __init__(
        self,
        acd: Acd | None,
        config: LiveConfig | None = None,
        *,
        floor: FloorStats | None = None,
        bus: CallBus | None = None,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or LiveConfig()
        url = self.config.webhook_url
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError(f"[live] webhook_url {url!r} must be an http:// or https:// URL (or empty for none)")
        self.acd, self.floor = acd, floor
        self.bus = bus or CallBus(wall)
        self._wall, self._mono = wall, mono
        self.calls = LiveCalls(self.config.transcript_turns)
        self._agent_since: dict[str, float] = {}
        self._day = self._today()
        self._days: dict[str, _Day] = {}
        self._latency: deque[tuple[float, float]] = deque()
        self._sorted_latency: list[float] = []
        self._book = AlertBook(self.config.alert_hold_seconds)
        self._workers_were_up = False
        self._followups = 0  # open follow-up tasks from low survey scores (an alert while there are any)
        self._failed_callbacks: dict[str, str] = {}  # callback id -> what failed, until a supervisor closes it
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = wall()
        if acd is not None:
            acd.observe(self.decision)
        if floor is not None:
            floor.on_reply.append(self.reply_latency)

    # --- life cycle ----------------------------------------------------------------------

    async def start(self, store: CallStore | None = None) -> None:
        """Read today's queue figures once (from the store), then check the targets every few seconds."""
        if store is not None and self.acd is not None:
            await self._seed(store)
        self._spawn(self._check_alerts_forever(), "live-alerts")

    async def stop(self) -> None:
        """Stop checking, end every subscriber's stream, let webhooks in flight finish."""
        tasks = list(self._tasks)
        for task in tasks:
            if task.get_name() == "live-alerts":
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.bus.close()

    # --- inputs: `ivr serve`, the JournalTee, the Acd, FloorStats -------------------------

    def call_started(self, call_id: str, *, caller: str, flow: str = "", version: int | None = None) -> None:
        """A call was offered to a flow."""
        self._publish("call_offered", call_id, caller=caller_number(caller), flow=flow, version=version)

    def call_ended(self, call_id: str, outcome: str) -> None:
        """A call is over; `outcome` is its stored status."""
        self._publish("call_ended", call_id, outcome=outcome or "unknown")

    def event(self, call: Any, event: Event) -> None:
        """CallJournal: publish what a supervisor sees (steps, what the IVR said, what the caller or agent said)."""
        cid = call.call_id
        if isinstance(event, StepEntered):
            self._publish("step_entered", cid, at=self._when(event.at), step=event.step)
        elif isinstance(event, Say):
            self._publish("say", cid, text=event.redacted or event.text)  # read-backs of card digits stay masked
        elif isinstance(event, Play):
            self._publish("play", cid, text=f"[audio {event.path.rsplit('/', 1)[-1]}]")
        elif isinstance(event, IntentDetected):
            self._publish("intent_detected", cid, step=event.step, text=event.text, intent=event.intent,
                          confidence=event.confidence, source=event.source)  # fmt: skip
        elif isinstance(event, Hangup):
            self._publish("hangup", cid, at=self._when(event.at), by=event.by, reason=event.reason)
        elif isinstance(event, BridgedTurn):  # the caller or the agent, on the call bridged to that agent
            self._publish("bridged_turn", cid, speaker=event.speaker, text=event.text, agent_id=event.agent_id,
                          confidence=round(event.confidence, 3), start=self._when(event.start),
                          end=self._when(event.end))  # fmt: skip

    def decision(self, d: Decision) -> None:
        """Acd observer: queue and agent decisions as records."""
        if isinstance(d, AgentStateChanged):
            self._publish("agent_state", "", agent_id=d.agent_id, state=d.state.value, previous=d.previous.value,
                          reason=d.reason)  # fmt: skip
            return
        entry = getattr(d, "entry", None)
        if entry is None or not isinstance(d, Enqueued | Offer | NoAnswer | CancelOffer | Connected | Abandoned |
                                           Overflow):  # fmt: skip
            return  # announcements are heard by the caller, not shown
        fields: dict[str, Any] = {"queue": entry.queue}
        if isinstance(d, Enqueued):
            fields["priority"] = entry.priority
        elif isinstance(d, Offer):
            fields |= {"agent_id": d.agent.id, "wait": round(d.wait, 3)}
        elif isinstance(d, NoAnswer | CancelOffer):
            fields["agent_id"] = d.agent_id
        elif isinstance(d, Connected):
            fields |= {"agent_id": d.agent_id, "wait": round(d.wait, 3)}
        elif isinstance(d, Abandoned):
            fields["wait"] = round(d.wait, 3)
        elif isinstance(d, Overflow):
            fields |= {"target": d.target, "reason": d.reason, "wait": round(d.wait, 3)}
        # A callback's offers are no new calls: the day's figures and the calls in progress leave them out.
        self._publish(f"callback_{d.kind}" if entry.callback else d.kind, entry.call_id, **fields)

    def callback_failed(self, row: Any) -> None:
        """CallbackWatcher: a callback failed for good; it is an alert until a supervisor closes it."""
        self._failed_callbacks[row.id] = (f"callback to {row.number} (queue {row.queue}) failed after {row.attempts} "
                                          f"attempt(s): {row.last_result}")  # fmt: skip
        self._publish("callback_failed", row.call_id, callback_id=row.id, queue=row.queue, number=row.number,
                      attempts=row.attempts, result=row.last_result)  # fmt: skip

    def callback_closed(self, callback_id: str) -> None:
        """CallbackWatcher: a supervisor closed a failed callback."""
        self._failed_callbacks.pop(callback_id, None)
        self._publish("callback_closed", "", callback_id=callback_id)

    def reply_latency(self, call_id: str, seconds: float) -> None:
        """FloorStats measured a reply: seconds from the end of the caller's speech to the reply's first audio."""
        self._publish("reply_latency", call_id, seconds=round(seconds, 4))

    # --- supervisor actions --------------------------------------------------------------

    def set_queue_mode(self, queue: str, mode: str, *, by: str) -> None:
        """Open, pause or drain a queue (QueueError for an unknown queue or mode)."""
        assert self.acd is not None
        self.acd.set_queue_mode(queue, mode)
        self._publish("queue_mode", "", queue=queue, mode=mode, by=by)

    def logout_agent(self, agent_id: str, *, by: str) -> str:
        """Log an agent out (after their current call); returns their state now."""
        assert self.acd is not None
        self.acd.logout(agent_id)
        state = self.acd.distributor.agent_state(agent_id).value
        self._publish("agent_logout", "", agent_id=agent_id, state=state, by=by)
        return state

    # --- reading -------------------------------------------------------------------------

    def survey_done(self, result: Any, task: Any = None) -> None:
        """AfterCallSurvey observer: a low score opened a follow-up task (the alert mentions it)."""
        if task is not None:
            self._followups += 1

    def followups_open(self, n: int) -> None:
        """How many follow-up tasks are open now (at start-up, and when a supervisor closes or reopens one)."""
        self._followups = n

    def snapshot(self) -> FloorView:
        """The whole floor now (in-memory reads only)."""
        now = self._wall()
        calls = sorted((live.call for live in self.calls.calls.values()), key=lambda c: c.started)
        workers_up, expected = self._workers()
        return FloorView(now, self.bus.seq, calls, self._queues(), self._agents(), self._latency_view(now),
                         sorted(self._book.active.values(), key=lambda a: a.since), workers_up, expected)  # fmt: skip

    def check_alerts(self) -> None:
        """Compare the floor with its targets; publish (and post to the webhook) what was raised or cleared."""
        now = self._wall()
        latency = self._latency_view(now)
        up, expected = self._workers()
        self._workers_were_up = self._workers_were_up or (up is not None and expected > 0 and up >= expected)
        facts = FloorFacts(
            queues=tuple(QueueFacts(q.name, q.service_level, q.answered_today + q.abandoned_today,
                                    q.service_level_target, q.longest_wait, q.wait_alert_seconds)
                         for q in self._queues()),
            latency_p95=latency.p95, latency_turns=latency.count,
            latency_window_minutes=self.config.latency_window_minutes,
            workers_up=up, workers_expected=expected, workers_were_up=self._workers_were_up,
            failed_callbacks=tuple(self._failed_callbacks.items()),
            followups_open=self._followups,
        )
        raised, cleared = self._book.update(missed_targets(facts, self.config), now)
        for alert, active in [(a, True) for a in raised] + [(a, False) for a in cleared]:
            (log.warning if active else log.info)("live floor alert %s: %s", "raised" if active else "cleared",
                                                  alert.message)  # fmt: skip
            self._publish("alert", "", key=alert.key, alert_kind=alert.kind, subject=alert.subject,
                          message=alert.message, since=alert.since, active=active)  # fmt: skip
            if self.config.webhook_url:
                self._spawn(self._post(webhook_body(alert, active=active, at=now)), "live-webhook")

    # --- internals -----------------------------------------------------------------------

    def _publish(self, kind: str, call_id: str, *, at: float | None = None, **fields: Any) -> Record:
        record = self.bus.publish(kind, call_id, at=at, **fields)
        self._apply(record)
        return record

    def _apply(self, r: Record) -> None:
        self.calls.apply(r)
        kind = r["kind"]
        if kind == "agent_state":
            self._agent_since[r["agent_id"]] = r["t"]
        elif kind == "reply_latency":
            self._latency.append((r["t"], r["seconds"]))
            bisect.insort(self._sorted_latency, r["seconds"])
        elif kind in ("enqueued", "answered", "abandoned"):
            day = self._day_of(r["queue"])
            if kind == "enqueued":
                day.offered += 1
            elif kind == "abandoned":
                day.abandoned += 1
            else:
                day.answered += 1
                q = self.acd.queues.get(r["queue"]) if self.acd is not None else None
                day.within += int(q is not None and r.get("wait", 0.0) <= q.service_level_seconds)

    def _day_of(self, queue: str) -> _Day:
        today = self._today()
        if today != self._day:  # a new UTC day: today's figures start again
            self._day, self._days = today, {}
        return self._days.setdefault(queue, _Day())

    def _today(self) -> date:
        return datetime.fromtimestamp(self._wall(), UTC).date()

    async def _seed(self, store: CallStore) -> None:
        """Today's figures so far, from the stored queue events (once, at start-up: a restart keeps the day)."""
        assert self.acd is not None
        self._day = self._today()
        midnight = datetime.combine(self._day, datetime.min.time())  # naive UTC, as the store keeps times
        for q in self.acd.queues.values():
            try:
                rows = await store.queue_stats(since=midnight, until=midnight + timedelta(days=1), queue=q.name,
                                               service_level_seconds=q.service_level_seconds)  # fmt: skip
            except Exception as exc:  # the database may be away; the floor then counts from now
                log.warning("live floor: today's figures of queue %s not read (%s); counting from now", q.name, exc)
                continue
            for row in rows:
                closed = row.answered + row.abandoned
                within = round((row.service_level or 0.0) * closed)
                self._days[q.name] = _Day(row.offered, row.answered, within, row.abandoned)

    def _queues(self) -> list[QueueView]:
        acd = self.acd
        if acd is None:
            return []
        now, out = self._mono(), []
        for name, cfg in acd.queues.items():
            waiting = acd.distributor.waiting(name)
            oldest = min((e.enqueued_at for e in waiting), default=now)
            day = self._days.get(name, _Day()) if self._today() == self._day else _Day()
            closed = day.answered + day.abandoned
            free = [a for a in acd.distributor.members(name)
                    if acd.distributor.agent_state(a) is AgentState.AVAILABLE]  # fmt: skip
            out.append(QueueView(name, acd.distributor.mode(name), len(waiting), round(max(0.0, now - oldest), 3),
                                 day.offered, day.answered, day.abandoned, day.within / closed if closed else None,
                                 cfg.service_level_seconds, cfg.service_level_target, cfg.wait_alert_seconds,
                                 free))  # fmt: skip
        return out

    def _agents(self) -> list[AgentView]:
        acd = self.acd
        if acd is None:
            return []
        out = []
        for agent_id, cfg in acd.agents.items():
            state = acd.distributor.agent_state(agent_id)
            call = next((c.call.call_id for c in self.calls.calls.values() if c.call.agent == agent_id), "")
            out.append(AgentView(agent_id, cfg.name or agent_id, state.value,
                                 self._agent_since.get(agent_id, self._started), call, list(cfg.queues)))  # fmt: skip
        return out

    def _latency_view(self, now: float) -> LatencyView:
        window = self.config.latency_window_minutes * 60
        while self._latency and self._latency[0][0] < now - window:
            _, seconds = self._latency.popleft()
            del self._sorted_latency[bisect.bisect_left(self._sorted_latency, seconds)]
        values = self._sorted_latency
        return LatencyView(window, self.config.latency_alert_seconds, len(values), _pick(values, 0.5),
                           _pick(values, 0.95), list(self._latency))  # fmt: skip

    def _workers(self) -> tuple[int | None, int]:
        if self.floor is None:
            return None, 0
        s = self.floor.snapshot()
        return s.workers_up, s.workers_expected

    def _when(self, at: float) -> float | None:
        """Wall time of a monotonic event time (None when the event has none: now)."""
        return self._wall() - max(0.0, self._mono() - at) if at else None

    async def _check_alerts_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.alert_check_seconds)
            try:
                self.check_alerts()
            except Exception:  # a bug here must not stop the checks
                log.exception("live floor: checking the targets failed; trying again")

    async def _post(self, body: dict[str, object]) -> None:
        url, timeout = self.config.webhook_url, self.config.webhook_timeout_seconds
        try:
            status = await asyncio.to_thread(post_webhook, url, body, timeout)
            log.info("live floor alert %s sent to the webhook (HTTP %d)", body["key"], status)
        except OSError as exc:
            log.error("live floor alert %s not delivered to [live] webhook_url %s: %s", body["key"], url, exc)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _pick(ordered: list[float], q: float) -> float | None:
    """The q-quantile of sorted values (nearest rank), None when empty."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
