"""The live floor's alerts: a missed target that lasts is raised, and cleared once the target is met again.

`missed_targets` is pure: from the floor's numbers it says which targets are missed right now. `AlertBook`
remembers since when each has been missed and raises an alert once that has lasted `[live] alert_hold_seconds`,
so a blip pages nobody. `post_webhook` delivers a raised or cleared alert as JSON to `[live] webhook_url`.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from ivr.core.config import LiveConfig

KINDS = ("service_level", "queue_wait", "turn_latency", "worker_down", "callback_failed", "csat_followup")


@dataclass(frozen=True)
class Missed:
    """A target missed now: `key` names it (kind and subject), `message` says what is wrong."""

    key: str
    kind: str
    subject: str
    message: str


@dataclass(frozen=True)
class Alert:
    """A raised alert; `since` is the wall time its target was first missed."""

    key: str
    kind: str
    subject: str
    message: str
    since: float


@dataclass(frozen=True)
class QueueFacts:
    """One queue's numbers that have targets."""

    name: str
    service_level: float | None
    closed_today: int  # answered + abandoned today: what the service level is a share of
    target: float
    longest_wait: float
    wait_limit: float


@dataclass(frozen=True)
class FloorFacts:
    """The floor's numbers that have targets."""

    queues: tuple[QueueFacts, ...] = ()
    latency_p95: float | None = None
    latency_turns: int = 0
    latency_window_minutes: float = 10.0
    workers_up: int | None = None
    workers_expected: int = 0
    workers_were_up: bool = False  # every worker was up once: fewer now means one went down (not still starting)
    failed_callbacks: tuple[tuple[str, str], ...] = ()  # (callback id, what failed) until a supervisor closes it
    followups_open: int = 0  # callers who rated their call low and wait for a call-back (follow-up tasks)


def missed_targets(facts: FloorFacts, cfg: LiveConfig) -> list[Missed]:
    """Every target missed now, by the queues' own targets and the [live] limits."""
    out = []
    for q in facts.queues:
        if (q.target > 0 and q.service_level is not None and q.closed_today >= cfg.service_level_min_calls
                and q.service_level < q.target):  # fmt: skip
            out.append(Missed(f"service_level:{q.name}", "service_level", q.name,
                              f"queue {q.name}: service level today is {q.service_level:.0%} of {q.closed_today} "
                              f"calls, below its {q.target:.0%} target"))  # fmt: skip
        if q.wait_limit > 0 and q.longest_wait > q.wait_limit:
            out.append(Missed(f"queue_wait:{q.name}", "queue_wait", q.name,
                              f"queue {q.name}: a caller has waited {q.longest_wait:.0f} s, over the "
                              f"{q.wait_limit:.0f} s limit"))  # fmt: skip
    limit = cfg.latency_alert_seconds
    p95 = facts.latency_p95
    if limit > 0 and p95 is not None and facts.latency_turns >= cfg.latency_alert_min_turns and p95 > limit:
        out.append(Missed("turn_latency", "turn_latency", "",
                          f"reply latency p95 is {p95:.2f} s over the last {facts.latency_window_minutes:g} min "
                          f"({facts.latency_turns} turns), above the {limit:g} s limit"))  # fmt: skip
    up, expected = facts.workers_up, facts.workers_expected
    if up is not None and facts.workers_were_up and up < expected:
        out.append(Missed("worker_down", "worker_down", "",
                          f"{expected - up} of {expected} media workers are down: their calls were cut, and they "
                          "are being restarted (see the serve log)"))  # fmt: skip
    for callback_id, what in facts.failed_callbacks:
        out.append(Missed(f"callback_failed:{callback_id}", "callback_failed", callback_id,
                          f"{what}; call the customer, then close it (POST /api/callbacks/{callback_id}/close)"))
    if facts.followups_open > 0:
        n = facts.followups_open
        message = (
            f"{n} caller{'s' if n != 1 else ''} rated the call low in the after-call survey and "
            f"{'wait' if n != 1 else 'waits'} for a call-back: see the follow-up tasks (/tasks)"
        )
        out.append(Missed("csat_followup", "csat_followup", "", message))
    return out


@dataclass
class AlertBook:
    """Which targets are missed and since when; raises after `hold` seconds, clears when met again."""

    hold: float
    active: dict[str, Alert] = field(default_factory=dict)
    _pending: dict[str, float] = field(default_factory=dict)

    def update(self, missed: Iterable[Missed], now: float) -> tuple[list[Alert], list[Alert]]:
        """Take the targets missed at `now` (wall time); return the alerts raised and those cleared."""
        now_missed = {m.key: m for m in missed}
        raised, cleared = [], []
        for key in [k for k in self.active if k not in now_missed]:
            cleared.append(self.active.pop(key))
        for key in [k for k in self._pending if k not in now_missed]:
            del self._pending[key]
        for key, m in now_missed.items():
            if key in self.active:
                continue
            since = self._pending.setdefault(key, now)
            if now - since >= self.hold:
                del self._pending[key]
                self.active[key] = Alert(m.key, m.kind, m.subject, m.message, since)
                raised.append(self.active[key])
        return raised, cleared


def webhook_body(alert: Alert, *, active: bool, at: float) -> dict[str, object]:
    """The JSON a webhook receives: the alert, whether it is raised (active) or cleared, and when."""
    return {"source": "ivr live floor", "status": "raised" if active else "cleared", "at": at, **asdict(alert)}


def post_webhook(url: str, body: dict[str, object], timeout: float) -> int:
    """POST `body` as JSON to `url` (blocking: run it in a thread); returns the HTTP status, raises OSError."""
    headers = {"Content-Type": "application/json", "User-Agent": "ivr-live-floor"}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return int(response.status)
