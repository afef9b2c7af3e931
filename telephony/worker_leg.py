"""One pjsua2 call leg inside a media worker. Runs on the pjsua2 thread only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pjsua2 as pj

from telephony.endpoint import sip_headers, stream_codec
from telephony.media import CapturePort, Playlist, destroy_now, disconnect

log = logging.getLogger(__name__)


def refer_to(target: str, headers: dict[str, str]) -> str:
    """Refer-To URI with `headers` embedded as URI headers."""
    if not headers:
        return target
    from urllib.parse import quote

    uri = target.strip("<>")
    sep = "&" if "?" in uri else "?"
    return "<" + uri + sep + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in headers.items()) + ">"


class LegHost(Protocol):
    """What a leg needs from its worker."""

    spool: Path

    def emit(self, header: dict[str, Any], payload: bytes = b"") -> None: ...
    def post(self, fn: Callable[[], None]) -> None: ...
    def leg_ended(self, leg: WorkerLeg) -> None: ...
    def capture_changed(self, leg: WorkerLeg) -> None: ...


class WorkerLeg(pj.Call):
    """A call leg: pjsua2 callbacks in, events out; media ports, playback, bridging."""

    def __init__(
        self, host: LegHost, account: pj.Account, leg_id: str, outbound: bool, call_id: int = pj.PJSUA_INVALID_ID
    ) -> None:
        super().__init__(account, call_id)
        self.host = host
        self.leg_id = leg_id
        self.outbound = outbound
        self.audio: pj.AudioMedia | None = None
        self.codec = ""
        self.peer: WorkerLeg | None = None
        self.capture: CapturePort | None = None
        self.tap_out: CapturePort | None = None
        self.hung_up_by_us = False
        self.ended = False
        self.answered = False
        self.playlist = Playlist(host.spool, host.post, self._emit_playback)

    # --- pjsua2 callbacks (pjsua2 thread) ----------------------------------------------

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.answered:
            self.answered = True
            self.host.emit({"t": "answered", "leg": self.leg_id, "codec": self.codec})
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
            self.ended = True
            by = "ivr" if self.hung_up_by_us else ("agent" if self.outbound else "caller")
            self.host.emit(
                {"t": "hangup", "leg": self.leg_id, "code": ci.lastStatusCode, "reason": ci.lastReason, "by": by}
            )
            # Never destroy a pj.Call inside its own callback: release it on the next turn.
            self.host.post(self._release)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.audio = pj.AudioMedia.typecastFromMedia(self.getMedia(i))
                self.codec = stream_codec(self, i)
                self._connect()
                return

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        method = "info" if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc4733"
        self.host.emit({"t": "dtmf", "leg": self.leg_id, "digit": prm.digit, "method": method})

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        self.host.emit(
            {"t": "transfer_status", "leg": self.leg_id, "code": prm.statusCode, "final": bool(prm.finalNotify)}
        )
        prm.cont = not prm.finalNotify

    # --- commands (pjsua2 thread) -----------------------------------------------------

    def answer_call(self, code: int = 200, headers: dict[str, str] | None = None) -> None:
        """Answer (200) or reject (4xx/5xx, with `headers` such as Retry-After) an inbound leg."""
        prm = pj.CallOpParam()
        prm.statusCode = code
        if headers:
            prm.txOption = sip_headers(headers)
        if code >= 300:
            self.hung_up_by_us = True
        self.answer(prm)

    def hangup_call(self, code: int = 0) -> None:
        """BYE if connected, CANCEL or a final response otherwise."""
        if self.ended:
            return
        self.hung_up_by_us = True
        prm = pj.CallOpParam()
        if code:
            prm.statusCode = code
        try:
            self.hangup(prm)
        except pj.Error as exc:
            log.warning("leg %s: hangup failed: %s", self.leg_id, exc.info())

    def send_dtmf(self, digits: str, method: str) -> None:
        """RFC 4733 events or SIP INFO."""
        prm = pj.CallSendDtmfParam()
        prm.digits = digits
        prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO if method == "info" else pj.PJSUA_DTMF_METHOD_RFC2833
        self.sendDtmf(prm)

    def transfer(self, target: str, headers: dict[str, str]) -> None:
        """Blind transfer with REFER; `headers` go on the REFER and into the Refer-To URI.

        Headers embedded in Refer-To (`?X-Name=value`) are copied by the transferee into its
        new INVITE, which is how they reach the transfer target (RFC 3515, section 2.1).
        """
        prm = pj.CallOpParam(True)
        prm.txOption = sip_headers(headers)
        self.xfer(refer_to(target, headers), prm)

    def set_capture(self, rate: int, on: bool, tap: bool) -> None:
        """Start or stop copying caller audio (and, with `tap`, what the caller hears)."""
        if on:
            if self.capture is None or self.capture.rate != rate:
                self._drop_capture()
                self.capture = CapturePort(f"in-{self.leg_id}", rate)
            if tap and self.tap_out is None:
                self.tap_out = CapturePort(f"out-{self.leg_id}", rate)
        else:
            self._drop_capture()
        self._connect()
        self.host.capture_changed(self)

    def bridge_to(self, peer: WorkerLeg) -> None:
        """Exchange audio with `peer` once both have media."""
        self.peer, peer.peer = peer, self
        self._connect()
        peer._connect()

    # --- internals --------------------------------------------------------------------

    def _connect(self) -> None:
        if self.audio is None or self.ended:
            return
        sinks = [self.audio]
        if self.tap_out is not None:
            sinks.append(self.tap_out)
        self.playlist.set_sinks(sinks)
        if self.capture is not None:
            self.audio.startTransmit(self.capture)
        peer = self.peer
        if peer is not None and peer.audio is not None and not peer.ended:
            peer.audio.startTransmit(self.audio)
            self.audio.startTransmit(peer.audio)
            if self.tap_out is not None:
                peer.audio.startTransmit(self.tap_out)
            if peer.tap_out is not None:
                self.audio.startTransmit(peer.tap_out)

    def _drop_capture(self) -> None:
        if not self.ended:
            disconnect(self.audio, self.capture)
        # Destroying the ports removes any remaining connection; the pump may still hold the
        # Python objects for a moment, but only reads their frame queues.
        destroy_now(self.capture)
        destroy_now(self.tap_out)
        self.capture = self.tap_out = None

    def _emit_playback(self, kind: str, playback_id: str, interrupted: bool) -> None:
        self.host.emit({"t": kind, "leg": self.leg_id, "pb": playback_id, "interrupted": interrupted})

    def _release(self) -> None:
        self.playlist.stop()
        self.playlist.set_sinks([])
        peer = self.peer
        if peer is not None:
            peer.peer = None
        self.peer = None
        destroy_now(self.capture)
        destroy_now(self.tap_out)
        self.capture = self.tap_out = None
        self.audio = None
        self.host.capture_changed(self)
        self.host.leg_ended(self)
