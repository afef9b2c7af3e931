"""Config sections of the consoles and the call-centre features: web, live floor, desk, survey, callbacks, customers.

They are part of `ivr.core.config.Config` (and importable from there); they live here to keep each module small.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.core.errors import ConfigError


@dataclass(frozen=True)
class WebConfig:
    """Supervisor, QA and agent web consoles, and the signed transcript links agents get."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    secret: str = ""
    link_ttl_seconds: int = 28800
    session_hours: float = 8.0
    idle_minutes: float = 30.0
    secure_cookies: bool = True
    login_failures_per_user: int = 5
    login_failures_per_address: int = 20
    login_window_minutes: float = 15.0
    metrics_token: str = ""
    max_upload_kb: int = 512


@dataclass(frozen=True)
class LiveConfig:
    """The supervisors' live floor: alert limits, the alert webhook, and what each live view keeps."""

    webhook_url: str = ""
    webhook_timeout_seconds: float = 5.0
    latency_window_minutes: float = 10.0
    latency_alert_seconds: float = 1.5
    latency_alert_min_turns: int = 5
    service_level_min_calls: int = 5
    alert_hold_seconds: float = 5.0
    alert_check_seconds: float = 1.0
    stream_buffer: int = 2000
    stream_minutes: float = 5.0
    transcript_turns: int = 200


@dataclass(frozen=True)
class CallbacksConfig:
    """Calling back a caller who chose not to wait: how the number is dialled and checked, what they hear."""

    route: str = ""  # 'sip:{number}@host:port' (empty: through [sip.trunk])
    min_digits: int = 7
    max_digits: int = 15
    ring_seconds: float = 30.0
    announcement: str = "Hello, this is your call back from Acme. Connecting you with an agent now."


@dataclass(frozen=True)
class SurveyConfig:
    """The after-call survey (CSAT) a queue or flow asks for: when a low score opens a follow-up task."""

    followup_at_or_below: int = 2  # a score this low or lower opens a follow-up task for supervisors (0: never)
    answer_seconds: float = 6.0  # how long the caller has to answer after the question has played


@dataclass(frozen=True)
class BridgeSpeechConfig:
    """Live transcripts of calls bridged to an agent: the caller and the agent, each recognized on their own channel."""

    enabled: bool = True
    trailing_silence_ms: int = 800  # the pause that ends a segment (longer than a bot turn's: fewer decodes)
    max_backlog: int = 12  # segments waiting for a recognizer thread; past this the oldest waiting is dropped


@dataclass(frozen=True)
class DeskConfig:
    """The agent desktop: the not-ready reasons and call dispositions agents pick from, and the screen pop's lead."""

    not_ready_reasons: tuple[str, ...] = ("Break", "Lunch", "Meeting", "Training", "Coaching")
    dispositions: tuple[str, ...] = ("Resolved", "Follow-up needed", "Escalated", "Order changed", "Wrong number")
    pop_lead_seconds: float = 0.3  # the agent's phone is dialled once the open desk has the pop, or this much later


@dataclass(frozen=True)
class CustomersConfig:
    """Known customers: where a flow's lookup in the `customers` source finds the caller by number."""

    source: str = "database"  # database (the customers table, managed at /customers) | http
    url: str = ""  # with source = "http": the endpoint; {number} is the caller's number (digits), URL-quoted
    timeout_seconds: float = 2.0  # an endpoint slower than this fails the lookup (the flow takes on_error)
    seed_demo: bool = True  # insert the demo hotline's customers that are missing at start-up

    def __post_init__(self) -> None:
        if self.source not in ("database", "http"):
            raise ConfigError(f"[customers] source = {self.source!r}: use \"database\" or \"http\"")
        if self.source == "http" and "{number}" not in self.url:
            raise ConfigError("[customers] source = \"http\" needs a url with {number} in it, "
                              "e.g. \"http://crm.local/customers?phone={number}\"")
        if not 0 < self.timeout_seconds < 4:
            raise ConfigError(f"[customers] timeout_seconds = {self.timeout_seconds}: use more than 0 and less "
                              "than 4 (a lookup gives up after 4 s whatever the source)")
