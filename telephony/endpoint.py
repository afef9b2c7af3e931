"""pjsua2 endpoint set-up shared by media workers and the scripted softphone."""

from __future__ import annotations

import logging
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


class _Log(pj.LogWriter):
    def write(self, entry: pj.LogEntry) -> None:
        msg = entry.msg.rstrip()
        if entry.level <= 1:
            log.error("pjsua2: %s", msg)
        elif entry.level == 2:
            log.warning("pjsua2: %s", msg)
        else:
            log.debug("pjsua2: %s", msg)


def init_endpoint(ep: pj.Endpoint, spec: EndpointSpec) -> list[str]:
    """libInit, null audio device, transports and codecs; returns the negotiable codecs."""
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = False
    cfg.uaConfig.maxCalls = spec.max_calls
    cfg.uaConfig.userAgent = spec.user_agent
    cfg.logConfig.level = spec.log_level
    cfg.logConfig.consoleLevel = spec.log_level
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
