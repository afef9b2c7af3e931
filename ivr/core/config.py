"""Configuration: `config.toml` read once with tomllib into frozen typed models.

`IVR_SECTION__KEY=value` environment variables override file values (nested sections use
more `__`, e.g. `IVR_SIP__TRUNK__USER`). Each part receives only its own section.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ivr.core.config_center import (
    BridgeSpeechConfig,
    CallbacksConfig,
    CustomersConfig,
    DeskConfig,
    LiveConfig,
    SurveyConfig,
    WebConfig,
)
from ivr.core.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class TrunkConfig:
    """Registration to an upstream SIP trunk or PBX."""

    enabled: bool = False
    registrar: str = ""
    user: str = ""
    password: str = ""
    realm: str = "*"
    reregister_seconds: int = 300


@dataclass(frozen=True)
class SipConfig:
    """The public SIP face of the IVR."""

    host: str = "127.0.0.1"
    port: int = 5060
    transports: tuple[str, ...] = ("udp", "tcp")
    tls_cert: str = ""
    tls_key: str = ""
    tls_port: int = 5061
    codecs: tuple[str, ...] = ("PCMU", "PCMA", "G722", "opus")
    user_agent: str = "ivr"
    trunk: TrunkConfig = field(default_factory=TrunkConfig)


@dataclass(frozen=True)
class WorkersConfig:
    """Media worker processes (one pjsua2 endpoint each, at most 4 call legs)."""

    count: int = 0  # 0: as many as the machine carries (telephony.capacity)
    base_port: int = 5070
    callers_per_worker: int = 2
    rtp_port_start: int = 20000
    rtp_ports_per_worker: int = 100
    control_host: str = "127.0.0.1"
    control_port: int = 5058
    restart_delay_seconds: float = 1.0
    log_level: int = 2


@dataclass(frozen=True)
class KamailioConfig:
    """The SIP load balancer in front of the workers."""

    enabled: bool = True
    binary: str = "kamailio"
    ping_interval_seconds: int = 5
    modules_dir: str = ""


@dataclass(frozen=True)
class VadConfig:
    """Voice activity detection and endpointing defaults (a flow step may override them)."""

    aggressiveness: int = 2
    frame_ms: int = 20
    min_speech_ms: int = 200
    leading_padding_ms: int = 300
    trailing_silence_ms: int = 500
    complete_silence_ms: int = 250
    early_decode_ms: int = 100
    max_utterance_seconds: float = 15.0


@dataclass(frozen=True)
class VoskConfig:
    """Vosk engine settings."""

    model: str = ""
    cache_dir: str = ""


@dataclass(frozen=True)
class AsrConfig:
    """Speech recognition."""

    engine: str = "auto"
    language: str = "en-us"
    sample_rate: int = 16000
    workers: int = 2
    model_cache_dir: str = ""  # converted models (Moonshine); "" is ~/.cache/ivr
    background_workers: int = 1  # extra threads for bridged calls' speech, so it never holds up a bot turn
    vosk: VoskConfig = field(default_factory=VoskConfig)


@dataclass(frozen=True)
class OverloadConfig:
    """Decode capacity of the control process, and what callers get when recognition cannot keep up."""

    decode_slots: int = 0  # decodes at once; 0: [asr] workers, at most the machine's cores
    decode_seconds: float = 0.8  # a decode's expected time until decodes are measured
    max_calls: int = 0  # calls admitted at once; 0: from decode capacity and turn_interval_seconds
    turn_interval_seconds: float = 8.0  # a caller's average time between turns, for max_calls = 0
    ack_after_ms: int = 1500  # a reply later than this after the end of speech is covered by ack_text
    ack_text: str = "One moment."
    keypad_after_ms: int = 2000  # decode queue wait that, held keypad_enter_seconds, turns speech steps to keys
    keypad_enter_seconds: float = 1.0
    keypad_until_ms: int = 0  # ... until the queue wait is at most this for keypad_hold_seconds
    keypad_hold_seconds: float = 5.0
    keypad_text: str = "Please use your keypad."
    retry_after_seconds: int = 30  # Retry-After of the 503 that refuses a call beyond max_calls

    def __post_init__(self) -> None:
        if self.keypad_until_ms > self.keypad_after_ms:
            raise ConfigError(
                f"[overload] keypad_until_ms ({self.keypad_until_ms}) is above keypad_after_ms "
                f"({self.keypad_after_ms}): the keypad fallback would never end; make it smaller"
            )
        if self.decode_seconds <= 0 or self.turn_interval_seconds <= 0:
            raise ConfigError("[overload] decode_seconds and turn_interval_seconds must be above 0")


@dataclass(frozen=True)
class TtsConfig:
    """Speech synthesis and the prompt cache."""

    engine: str = "pyttsx3"
    voice: str = "en-us"
    rate: int = 170
    volume: float = 1.0
    cache_dir: str = "var/prompts"


@dataclass(frozen=True)
class FlowsConfig:
    """Which call flow `ivr serve` runs."""

    default: str = "flows/acme_retail.yaml"


@dataclass(frozen=True)
class StorageConfig:
    """Database."""

    url: str = "sqlite:///var/ivr.db"
    spool_dir: str = "var/spool"
    batch_size: int = 500
    flush_ms: int = 50
    connect_timeout_seconds: int = 3
    seed_demo_orders: bool = True


@dataclass(frozen=True)
class RecordingsConfig:
    """Call recordings."""

    enabled: bool = True
    dir: str = "var/recordings"
    retention_days: int = 90
    encryption_key: str = ""
    sample_rate: int = 16000
    flush_seconds: float = 1.0
    fsync: bool = False


@dataclass(frozen=True)
class AgentConfig:
    """One contact-centre agent (`[[agents]]`); `queues` and `skills` are names."""

    id: str = ""
    name: str = ""
    sip_uri: str = ""
    queues: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueueConfig:
    """One ACD queue (`[[queues]]`); overflow is 'voicemail[:box]', 'queue:NAME', a SIP URI or ''."""

    name: str = ""
    strategy: str = "longest_idle"
    max_wait: float = 300.0
    overflow: str = "voicemail"
    overflow_when_no_agents: bool = True
    announce_interval: float = 30.0
    wrap_up: float = 10.0
    ring_timeout: float = 20.0
    no_answer: str = "not_ready"
    handle_time: float = 180.0
    hold_music: str = ""
    service_level_seconds: float = 20.0  # answered within this many seconds counts toward the service level
    service_level_target: float = 0.8  # the live floor alerts when today's service level is below this (0: never)
    wait_alert_seconds: float = 120.0  # ... and when a caller has waited longer than this (0: never)
    survey: bool = False  # after the agent hangs up, the caller is asked to rate the call 1-5 ([survey])
    callback_threshold: float = 0.0  # offer a callback once the estimated wait passes this many seconds (0: never)
    callback_attempts: int = 3  # times a callback dials the caller before it is reported failed
    callback_interval: float = 120.0  # seconds between a failed callback attempt and the next


@dataclass(frozen=True)
class LogConfig:
    """Logging."""

    level: str = "INFO"
    file: str = ""


@dataclass(frozen=True)
class Config:
    """The whole configuration; `root` is the directory relative paths are resolved against."""

    sip: SipConfig = field(default_factory=SipConfig)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    kamailio: KamailioConfig = field(default_factory=KamailioConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)
    overload: OverloadConfig = field(default_factory=OverloadConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    flows: FlowsConfig = field(default_factory=FlowsConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    recordings: RecordingsConfig = field(default_factory=RecordingsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    bridge_speech: BridgeSpeechConfig = field(default_factory=BridgeSpeechConfig)
    desk: DeskConfig = field(default_factory=DeskConfig)
    survey: SurveyConfig = field(default_factory=SurveyConfig)
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)
    customers: CustomersConfig = field(default_factory=CustomersConfig)
    log: LogConfig = field(default_factory=LogConfig)
    root: str = "."
    agents: tuple[AgentConfig, ...] = ()
    queues: tuple[QueueConfig, ...] = ()

    def path(self, value: str) -> Path:
        """Resolve a path from the config relative to the config file's directory."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else Path(self.root) / p

    def asr_section(self) -> AsrConfig:
        """The [asr] section with `model_cache_dir` resolved against the config file's directory."""
        cache = self.asr.model_cache_dir
        return dataclasses.replace(self.asr, model_cache_dir=str(self.path(cache)) if cache else "")


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read `path` (or the defaults when None), apply IVR_* overrides, and validate."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    root = Path.cwd()
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {p} not found; pass --config PATH to an existing file") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: invalid TOML: {exc}") from exc
        root = p.resolve().parent
    for name, value in env.items():
        if name.startswith("IVR_") and "__" in name:
            _apply_override(data, name, value)
    data.setdefault("root", str(root))
    return _build(Config, data, "")


def _apply_override(data: dict[str, Any], name: str, value: str) -> None:
    keys = [k.lower() for k in name[len("IVR_") :].split("__")]
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{name}: [{key}] is not a section")
        node = child
    node[keys[-1]] = _EnvValue(value, name)


@dataclass(frozen=True)
class _EnvValue:
    text: str
    source: str


def _build(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - set(fields)
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in [{where or 'top level'}]; known keys: {known}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        kwargs[name] = _coerce(hints[name], value, key)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - dataclass guards
        raise ConfigError(f"[{where}]: {exc}") from exc


def _coerce(tp: Any, value: Any, key: str) -> Any:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a section ([{key}]), not {value!r}")
        return _build(tp, value, key)
    origin = typing.get_origin(tp)
    if isinstance(value, _EnvValue):
        value = _parse_env(tp, value, key)
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        (item_tp, _ellipsis) = typing.get_args(tp)
        return tuple(_coerce(item_tp, v, key) for v in value)
    if origin in (typing.Union, types.UnionType):
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be a whole number, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    return value


def _parse_env(tp: Any, value: _EnvValue, key: str) -> Any:
    text = value.text.strip()
    try:
        if tp is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
    except ValueError as exc:
        raise ConfigError(f"{value.source}={text!r}: {key} needs a {tp.__name__}") from exc
    return text
