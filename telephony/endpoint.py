"""pjsua2 endpoint set-up shared by media workers and the scripted softphone."""

from __future__ import annotations

import ctypes
import logging
import sys
from dataclasses import dataclass

import pjsua2 as pj

from ivr.core.errors import TelephonyError

log = logging.getLogger(__name__)

# Codec names as written in config.toml -> pjmedia codec id prefixes.
_CODEC_IDS = {"pcmu": "PCMU/8000", "pcma": "PCMA/8000", "g722": "G722/16000", "opus": "opus/48000"}
CLOCK_RATE = 16000


@dataclass(frozen=True)
class EndpointSpec:
    """Where and how one pjsua2 endpoint listens."""

    host: str
    sip_port: int
    transports: tuple[str, ...] = ("udp", "tcp")
    tls_port: int = 0
    tls_cert: str = ""
    tls_key: str = ""
    codecs: tuple[str, ...] = ("PCMU", "PCMA", "G722", "opus")
    user_agent: str = "ivr"
    max_calls: int = 4
    log_level: int = 1


def _python_level(pj_level: int) -> int:
    # pjlib: 1 error, 2 warning, 3 info (call states), 4-6 detail. Level 3 is a line per call
    # event, far too chatty for INFO on a busy worker, so everything past warnings is DEBUG.
    return logging.ERROR if pj_level <= 1 else logging.WARNING if pj_level == 2 else logging.DEBUG


def _emit(pj_level: int, msg: str) -> None:
    log.log(_python_level(pj_level), "pjsua2: %s", msg.rstrip())


def pj_log_level(wanted: int) -> int:
    """The pjsua2 verbosity to use: `wanted` ([workers] log_level), lowered to what logging keeps.

    Lines that Python logging would drop are not produced at all, so a DEBUG-level pjsua2 on an
    INFO-level worker costs nothing.
    """
    for level in range(wanted, 0, -1):
        if log.isEnabledFor(_python_level(level)):
            return level
    return 0


class _Log(pj.LogWriter):
    """pjsua2's log, once libInit has run, through Python logging at the mapped level."""

    def write(self, entry: pj.LogEntry) -> None:
        _emit(entry.level, entry.msg)


_LogFunc = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
# Module-level for the life of the process: pjlib keeps the pointer, and libDestroy may log.
_startup_writer = _LogFunc(lambda level, data, length: _emit(level, data[:length].decode(errors="replace")))


def create_endpoint(log_level: int) -> pj.Endpoint:
    """A new Endpoint after libCreate, whose start-up lines go through logging instead of stdout.

    pjlib logs its banner ("pjlib 2.15.1 for POSIX initialized" ...) to stdout during libCreate,
    before libInit can install the LogWriter. Its C log hook is exported by the wheel, so point
    it at logging first; libInit then replaces it with `_Log`.
    """
    lib = ctypes.CDLL(sys.modules["pjsua2._pjsua2"].__file__)  # the loaded library, not a second copy
    lib.pj_log_set_log_func(_startup_writer)
    lib.pj_log_set_decor(0)
    lib.pj_log_set_level(pj_log_level(log_level))
    ep = pj.Endpoint()
    ep.libCreate()
    return ep


def init_endpoint(ep: pj.Endpoint, spec: EndpointSpec) -> list[str]:
    """libInit, null audio device, transports and codecs; returns the negotiable codecs."""
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = False
    cfg.uaConfig.maxCalls = spec.max_calls
    cfg.uaConfig.userAgent = spec.user_agent
    cfg.logConfig.level = cfg.logConfig.consoleLevel = pj_log_level(spec.log_level)
    cfg.logConfig.msgLogging = 0
    # Endpoint::libDestroy deletes the writer itself (pjproject issue #3511); give the
    # SWIG director to C++ so Python does not free it a second time (intermittent segfault).
    writer = _Log()
    writer.__disown__()
    cfg.logConfig.writer = writer
    cfg.logConfig.decor = 0
    cfg.medConfig.clockRate = CLOCK_RATE
    cfg.medConfig.sndClockRate = CLOCK_RATE
    cfg.medConfig.noVad = True  # send every 20 ms packet: steady pacing, no comfort-noise gaps
    cfg.medConfig.ecTailLen = 0  # no echo canceller on a server with no sound device
    cfg.medConfig.ptime = 20
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    for kind in spec.transports:
        _add_transport(ep, kind, spec.host, spec.sip_port)
    if spec.tls_cert:
        _add_transport(ep, "tls", spec.host, spec.tls_port, spec.tls_cert, spec.tls_key)
    codecs = configure_codecs(ep, spec.codecs)
    ep.libStart()
    return codecs


def _add_transport(ep: pj.Endpoint, kind: str, host: str, port: int, cert: str = "", key: str = "") -> None:
    kinds = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP, "tls": pj.PJSIP_TRANSPORT_TLS}
    if kind not in kinds:
        raise TelephonyError(f"unknown SIP transport {kind!r}; use udp, tcp or tls")
    tc = pj.TransportConfig()
    tc.boundAddress = host
    tc.publicAddress = host
    tc.port = port
    if kind == "tls":
        tc.tlsConfig.certFile = cert
        tc.tlsConfig.privKeyFile = key
    try:
        ep.transportCreate(kinds[kind], tc)
    except pj.Error as exc:
        raise TelephonyError(
            f"cannot listen for SIP over {kind.upper()} on {host}:{port}: {exc.info()}; "
            "is another process using the port? Change [sip] port or [workers] base_port"
        ) from exc


def configure_codecs(ep: pj.Endpoint, wanted: tuple[str, ...]) -> list[str]:
    """Enable the wanted codecs in order of preference and disable all others."""
    available = {c.codecId: c for c in ep.codecEnum2()}
    chosen: list[str] = []
    for name in wanted:
        prefix = _CODEC_IDS.get(name.lower())
        if prefix is None:
            raise TelephonyError(f"unknown codec {name!r} in [sip] codecs; use {sorted(_CODEC_IDS)}")
        matches = [cid for cid in available if cid.lower().startswith(prefix.lower())]
        if not matches:
            log.info("codec %s is not in this pjsua2 build; skipped", name)
            continue
        chosen.extend(matches)
    if not chosen:
        raise TelephonyError("none of the codecs in [sip] codecs is available; add PCMU")
    for cid in available:
        ep.codecSetPriority(cid, 0)
    for rank, cid in enumerate(chosen):
        ep.codecSetPriority(cid, 250 - rank)
    return chosen


def account_config(host: str, sip_port: int, rtp_port: int, rtp_range: int, user: str = "ivr") -> pj.AccountConfig:
    """A local (unregistered) account whose SIP contact and RTP are bound to `host`."""
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{user}@{host}:{sip_port}"
    tc = acfg.mediaConfig.transportConfig
    tc.boundAddress = host
    tc.publicAddress = host
    tc.port = rtp_port
    tc.portRange = rtp_range
    acfg.natConfig.sdpNatRewriteUse = 0
    acfg.natConfig.contactRewriteUse = 0
    acfg.natConfig.viaRewriteUse = 0
    return acfg


def sip_headers(headers: dict[str, str] | None) -> pj.SipTxOption:
    """Extra SIP headers for an outgoing request."""
    opt = pj.SipTxOption()
    vec = pj.SipHeaderVector()
    for name, value in (headers or {}).items():
        h = pj.SipHeader()
        h.hName = name
        h.hValue = value
        vec.append(h)
    opt.headers = vec
    return opt


def stream_codec(call: pj.Call, media_index: int) -> str:
    """Negotiated codec of an active audio stream, e.g. 'PCMU/8000'."""
    try:
        si = call.getStreamInfo(media_index)
        return f"{si.codecName}/{si.codecClockRate}"
    except pj.Error:
        return "unknown"
