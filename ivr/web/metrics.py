"""`/metrics`: the floor's live numbers (ivr.session.floor) in the Prometheus text format.

A custom collector reads one FloorStats snapshot per scrape, so nothing is counted twice and no call path
imports prometheus_client. The registry is private to the app (no global default registry), plus the
process collector (memory, CPU, open files). Access: a bearer token when `[web] metrics_token` is set,
otherwise loopback clients only.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from ivr.session.floor import FloorSnapshot, FloorStats
from ivr.session.overload import OverloadNumbers
from ivr.web.context import CONTEXT

METRICS = web.AppKey("metrics_registry", CollectorRegistry)


class FloorCollector(Collector):
    """Turns a FloorStats snapshot into Prometheus metric families at each scrape."""

    def __init__(self, floor: Callable[[], FloorStats | None]) -> None:
        self._floor = floor

    def collect(self) -> Iterator[Metric]:
        """Every floor metric, from one snapshot."""
        floor = self._floor()
        if floor is None:
            return
        yield from _families(floor.snapshot())


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _families(s: FloorSnapshot) -> Iterator[Metric]:
    yield _gauge("ivr_calls_active", "Calls in progress in this control process.", s.active_calls)
    calls = CounterMetricFamily("ivr_calls", "Calls ended, by outcome (the calls table's status; completed = "
                                "contained in the IVR).", labels=["outcome"])  # fmt: skip
    for outcome, n in sorted(s.calls_by_outcome.items()):
        calls.add_metric([outcome], n)
    yield calls
    yield CounterMetricFamily("ivr_turns", "Caller speech turns the flows took.", value=s.turns)
    h = s.reply_latency
    yield HistogramMetricFamily(
        "ivr_reply_latency_seconds",
        "Seconds from the end of the caller's speech to the first audio of the reply.",
        buckets=[("+Inf" if b == float("inf") else repr(b), n) for b, n in h.buckets],
        sum_value=h.sum,
    )
    if s.decode_backlog is not None:
        yield _gauge("ivr_decode_backlog", "Decode jobs waiting for a recognizer thread.", s.decode_backlog)
    waiting = GaugeMetricFamily("ivr_queue_waiting", "Callers waiting for an agent, by queue.", labels=["queue"])
    oldest = GaugeMetricFamily("ivr_queue_oldest_wait_seconds", "How long the longest-waiting caller has waited, "
                               "by queue (0 when none waits).", labels=["queue"])  # fmt: skip
    for name, q in sorted(s.queues.items()):
        waiting.add_metric([name], q.waiting)
        oldest.add_metric([name], q.oldest_wait_seconds)
    yield waiting
    yield oldest
    agents = GaugeMetricFamily("ivr_agents", "Configured agents, by state.", labels=["state"])
    for state, n in sorted(s.agents_by_state.items()):
        agents.add_metric([state], n)
    yield agents
    if s.workers_up is not None:
        yield _gauge("ivr_workers_up", "Media workers connected to this control process.", s.workers_up)
    yield _gauge("ivr_workers_expected", "Media workers this control process runs.", s.workers_expected)
    if s.call_legs is not None:
        yield _gauge("ivr_call_legs", "SIP call legs up across the media workers (callers and agents).", s.call_legs)
    if s.db_write_backlog is not None:
        yield _gauge("ivr_db_write_backlog", "Database writes not yet committed.", s.db_write_backlog)
    if s.db_available is not None:
        yield _gauge("ivr_db_available", "1 while the database takes writes, 0 while they are held.", s.db_available)
    yield CounterMetricFamily("ivr_surveys_offered", "After-call surveys (CSAT) offered to callers.",
                              value=s.surveys_offered)  # fmt: skip
    yield CounterMetricFamily("ivr_surveys_answered", "After-call surveys the caller scored 1 to 5.",
                              value=s.surveys_answered)  # fmt: skip
    cumulative = [(str(score), sum(n for k, n in s.survey_scores.items() if k <= score)) for score in range(1, 6)]
    yield HistogramMetricFamily(
        "ivr_survey_score", "After-call survey scores (1 to 5).",
        buckets=[*cumulative, ("+Inf", s.surveys_answered)],
        sum_value=sum(k * n for k, n in s.survey_scores.items()),
    )  # fmt: skip
    if s.overload is not None:
        yield from _overload(s.overload)


def _overload(o: OverloadNumbers) -> Iterator[Metric]:
    yield _gauge("ivr_decode_slots", "Decodes this control process runs at once ([overload] decode_slots).",
                 o.decode_slots)  # fmt: skip
    yield _gauge("ivr_decodes_in_flight", "Bot-turn decodes running now.", o.decodes_in_flight)
    yield _gauge("ivr_decodes_queued", "Bot-turn decodes waiting for a decode slot.", o.decodes_queued)
    yield _gauge("ivr_decode_seconds", "Measured time of one decode (moving average).", o.decode_seconds)
    yield _gauge("ivr_predicted_reply_seconds", "When a decode asked for now would have its result.",
                 o.predicted_reply_seconds)  # fmt: skip
    yield _gauge("ivr_call_capacity", "Calls admitted at once; more are refused with 503.", o.call_capacity)
    yield _gauge("ivr_keypad_only", "1 while speech steps ask for keys because recognition is saturated.",
                 int(o.keypad_only))  # fmt: skip
    yield CounterMetricFamily("ivr_acknowledgements", "'One moment' played to cover a late reply.",
                              value=o.acknowledgements)  # fmt: skip
    yield CounterMetricFamily("ivr_keypad_fallbacks", "Speech steps that asked for keys instead (overload).",
                              value=o.keypad_fallbacks)  # fmt: skip
    yield CounterMetricFamily("ivr_calls_refused", "Calls refused with 503 and Retry-After beyond capacity.",
                              value=o.calls_refused)  # fmt: skip


def metrics_registry(floor: Callable[[], FloorStats | None]) -> CollectorRegistry:
    """A private registry with the floor collector and this process's own numbers."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FloorCollector(floor))
    ProcessCollector(registry=registry)
    return registry


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics for Prometheus scrapers."""
    token = request.app[CONTEXT].config.metrics_token
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPUnauthorized(
                text="/metrics needs 'Authorization: Bearer <[web] metrics_token>'\n",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    elif not _loopback(request.remote):
        raise web.HTTPForbidden(text="/metrics answers loopback clients only; set [web] metrics_token to scrape it "
                                "from another host\n")  # fmt: skip
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))  # text 0.0.4 unless asked otherwise
    return web.Response(body=encode(request.app[METRICS]), headers={"Content-Type": content_type})


def add_metrics_route(app: web.Application) -> None:
    """Serve GET /metrics from the floor of the app's WebContext (which must be set before)."""
    app[METRICS] = metrics_registry(lambda: app[CONTEXT].floor)
    app.router.add_get("/metrics", metrics, name="metrics")


def _loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False
