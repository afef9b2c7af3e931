"""A scripted SIP user agent on pjsua2: the engine behind `ivr call` and test agent phones.

It places or answers one call, plays WAV files, sends DTMF, and hands every received
20 ms frame (stamped with its arrival time) to the caller's script.
"""

from __future__ import annotations

import collections
import logging
import queue
import re
import threading
import time
from dataclasses import dataclass, field

import pjsua2 as pj

from ivr.core.errors import TelephonyError
from telephony.endpoint import EndpointSpec, account_config, init_endpoint, sip_headers, stream_codec
from telephony.media import destroy_now
from telephony.pjthread import PjThread, vector_bytes

log = logging.getLogger(__name__)

_X_HEADER = re.compile(r"^(X-[A-Za-z0-9-]+):\s*(.*?)\s*$", re.MULTILINE)


_RETRY_AFTER = re.compile(r"^Retry-After:\s*(\d+)", re.MULTILINE | re.IGNORECASE)


def _retry_after(prm: pj.OnCallStateParam) -> int | None:
    """Retry-After of the final response that ended an unanswered call, if it had one."""
    e = prm.e
    if e.type != pj.PJSIP_EVENT_TSX_STATE or e.body.tsxState.type != pj.PJSIP_EVENT_RX_MSG:
        return None
    found = _RETRY_AFTER.search(e.body.tsxState.src.rdata.wholeMsg)
    return int(found.group(1)) if found else None


class _RxPort(pj.AudioMediaPort):
    def __init__(self, rate: int, frames: collections.deque[tuple[float, bytes]]) -> None:
        super().__init__()
        self._frames = frames
        fmt = pj.MediaFormatAudio()
        fmt.type = pj.PJMEDIA_TYPE_AUDIO
        fmt.clockRate = rate
        fmt.channelCount = 1
        fmt.bitsPerSample = 16
        fmt.frameTimeUsec = 20000
        self.createPort("softphone-rx", fmt)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
            self._frames.append((time.monotonic(), vector_bytes(frame.buf)))


class _Player(pj.AudioMediaPlayer):
    def __init__(self, done: threading.Event) -> None:
        super().__init__()
        self._done = done

    def onEof2(self) -> None:
        self._done.set()


@dataclass
class CallState:
    """What the script can observe about the call (updated from the pjsua2 thread)."""

    answered_at: float | None = None
    ended_at: float | None = None
    end_code: int = 0
    end_reason: str = ""
    ended_by: str = ""
    codec: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    remote: str = ""
    dtmf: list[tuple[float, str]] = field(default_factory=list)
    referred_to: str = ""
    refused: list[str] = field(default_factory=list)
    retry_after: int | None = None  # Retry-After of a refusal (503 over capacity), in seconds


class _Call(pj.Call):
    def __init__(self, phone: Softphone, acc: pj.Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, call_id)
        self.phone = phone
        self.audio: pj.AudioMedia | None = None
        self.hung_up_locally = False
        self.ended = False
        # Every pjsua2 Call object must live until its call is over: pjsua calls back into
        # it (even from libDestroy), and a freed director object there is a segfault.
        phone._calls.append(self)

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.ended = True
        if self is not self.phone._call:
            return  # a refused extra call: it must not end the script's call
        st = self.phone.state
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and st.answered_at is None:
            st.answered_at = time.monotonic()
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED and st.ended_at is None:
            st.end_code, st.end_reason = ci.lastStatusCode, ci.lastReason
            if st.answered_at is None:
                st.retry_after = _retry_after(prm)
            st.ended_by = "local" if self.hung_up_locally else "remote"
            st.ended_at = time.monotonic()
            self.phone._ended()

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        if self is not self.phone._call:
            return
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.audio = pj.AudioMedia.typecastFromMedia(self.getMedia(i))
                self.phone.state.codec = stream_codec(self, i)
                self.audio.startTransmit(self.phone._rx)

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        self.phone.state.dtmf.append((time.monotonic(), prm.digit))

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        # Accept the REFER and follow it with a new call we own (the old leg then ends).
        self.phone.state.referred_to = prm.dstUri
        prm.statusCode = 202
        prm.newCall = _Call(self.phone, self.phone._acc)  # type: ignore[arg-type]


class _Account(pj.Account):
    def __init__(self, phone: Softphone) -> None:
        super().__init__()
        self.phone = phone

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self.phone._incoming(self, prm)


class Softphone:
    """One pjsua2 endpoint that makes or takes a single call at a time."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, rate: int = 16000, codecs: tuple[str, ...] = (),
        user: str = "caller",
    ) -> None:  # fmt: skip
        self.host, self.port, self.rate, self.user = host, port, rate, user
        self.codecs = codecs or ("PCMU", "PCMA", "G722")
        self.frames: collections.deque[tuple[float, bytes]] = collections.deque()
        self.state = CallState()
        self._pj = PjThread("softphone-pjsua2")
        self._call: _Call | None = None
        self._acc: _Account | None = None
        self._rx: _RxPort | None = None
        self._players: list[_Player] = []
        self._calls: list[_Call] = []
        self._answer_code = 200
        self.incoming: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.done = threading.Event()

    def start(self) -> None:
        """Create the endpoint bound to host:port."""

        def init(ep: pj.Endpoint) -> None:
            spec = EndpointSpec(host=self.host, sip_port=self.port, transports=("udp", "tcp"), codecs=self.codecs,
                                user_agent="ivr-call", max_calls=4, log_level=1)  # fmt: skip
            init_endpoint(ep, spec)
            if self.port == 0:
                self.port = int(ep.transportGetInfo(ep.transportEnum()[0]).localName.rsplit(":", 1)[1])
            self._acc = _Account(self)
            self._acc.create(account_config(self.host, self.port, 0, 0, user=self.user))
            self._rx = _RxPort(self.rate, self.frames)

        self._pj.start(init).result(10)
        self._pj.call(lambda: None)

    def dial(self, uri: str, headers: dict[str, str] | None = None) -> None:
        """Place the call."""

        def run() -> None:
            assert self._acc is not None
            call = _Call(self, self._acc)
            prm = pj.CallOpParam(True)
            prm.txOption = sip_headers(headers)
            call.makeCall(uri, prm)
            self._call = call

        try:
            self._pj.call(run)
        except pj.Error as exc:
            raise TelephonyError(f"cannot call {uri}: {exc.info()}") from exc

    def set_answer(self, code: int) -> None:
        """How to answer incoming calls: 200 to accept, or a 4xx/5xx to refuse."""
        self._answer_code = code

    def _incoming(self, acc: pj.Account, prm: pj.OnIncomingCallParam) -> None:
        call = _Call(self, acc, prm.callId)
        if self._call is not None and self._call.phone.state.ended_at is None:
            self.state.refused.append(call.getInfo().remoteUri)
            op = pj.CallOpParam()
            op.statusCode = 486
            call.answer(op)
            return
        self._call = call
        self.state.headers = dict(_X_HEADER.findall(prm.rdata.wholeMsg))
        self.state.remote = call.getInfo().remoteUri
        op = pj.CallOpParam()
        op.statusCode = 180
        call.answer(op)
        self.incoming.put(self.state.remote)

    def answer(self) -> None:
        """Answer the ringing incoming call with the configured code."""

        def run() -> None:
            if self._call is not None:
                op = pj.CallOpParam()
                op.statusCode = self._answer_code
                self._call.answer(op)

        self._pj.call(run)

    def play(self, path: str) -> threading.Event:
        """Start playing a WAV file into the call; the event is set at its end."""
        done = threading.Event()

        def run() -> str:
            # Report errors as text: an exception's traceback would keep pjsua2 objects
            # alive past libDestroy, which aborts the process.
            call = self._call
            if call is None or call.audio is None:
                done.set()
                return ""
            player = _Player(done)
            try:
                player.createPlayer(path, pj.PJMEDIA_FILE_NO_LOOP)
                player.startTransmit(call.audio)
            except pj.Error as exc:
                return exc.info()
            self._players.append(player)
            return ""

        error = self._pj.call(run)
        if error:
            raise TelephonyError(f"cannot play {path}: {error}")
        return done

    def send_dtmf(self, digits: str, method: str = "rfc4733") -> None:
        """Send DTMF as RFC 4733 events or SIP INFO."""

        def run() -> None:
            if self._call is None:
                return
            prm = pj.CallSendDtmfParam()
            prm.digits = digits
            prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO if method == "info" else pj.PJSUA_DTMF_METHOD_RFC2833
            self._call.sendDtmf(prm)

        self._pj.call(run)

    def hangup(self) -> None:
        """End the call (BYE or CANCEL)."""

        def run() -> None:
            call = self._call
            if call is not None and self.state.ended_at is None:
                call.hung_up_locally = True
                call.hangup(pj.CallOpParam())

        self._pj.call(run)

    def _ended(self) -> None:
        self.done.set()

    def stop(self) -> None:
        """Hang up every call, wait until they are over, then destroy in the safe order."""

        def hangup_all() -> bool:
            for call in self._calls:
                if not call.ended:
                    call.hung_up_locally = True
                    try:
                        call.hangup(pj.CallOpParam())
                    except pj.Error:
                        pass  # already terminating
            return all(c.ended for c in self._calls)

        deadline = time.monotonic() + 3
        while not self._pj.call(hangup_all) and time.monotonic() < deadline:
            time.sleep(0.05)

        def forget() -> None:
            for player in self._players:
                destroy_now(player)
            self._players.clear()
            self._calls.clear()
            self._call = None
            if self._acc is not None:
                self._acc.shutdown()
            self._acc = None
            destroy_now(self._rx)
            self._rx = None

        self._pj.stop(forget)
