"""`ivr worker`: one pjsua2 endpoint (at most 4 call legs) linked to the control process.

Threads: the pjsua2 thread (all SIP work, see PjThread), the media clock thread (capture
ports only copy bytes), and this asyncio loop (the link to the control process and the
audio pump that batches captured frames every 20 ms).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import signal
from collections.abc import Callable
from typing import Any, TypeVar

import pjsua2 as pj

from ivr.core.config import SipConfig, TrunkConfig, WorkersConfig
from ivr.core.errors import TelephonyError
from telephony import wire
from telephony.endpoint import EndpointSpec, account_config, init_endpoint, sip_headers
from telephony.media import CapturePort, spool_dir
from telephony.pjthread import PjThread
from telephony.worker_leg import WorkerLeg

log = logging.getLogger(__name__)
T = TypeVar("T")

PUMP_SECONDS = 0.02
STATS_SECONDS = 1.0
MAX_LEGS = 4  # compiled into the pjsua2-python wheel (see ARCHITECTURE.md)
_X_HEADER = re.compile(r"^(X-[A-Za-z0-9-]+):\s*(.*?)\s*$", re.MULTILINE)


class _Account(pj.Account):
    def __init__(self, worker: MediaWorker) -> None:
        super().__init__()
        self._worker = worker

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self._worker.incoming(self, prm)

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        info = self.getInfo()
        if prm.code // 100 == 2:
            log.info("trunk registration %s: %s %s (expires %ss)", info.uri, prm.code, prm.reason, prm.expiration)
        else:
            log.error(
                "trunk registration %s FAILED: %s %s; check [sip.trunk] registrar, user and password",
                info.uri,
                prm.code,
                prm.reason,
            )
        self._worker.emit({"t": "reg_state", "code": prm.code, "reason": prm.reason})


class MediaWorker:
    """A media worker process: SIP legs on the pjsua2 thread, the control link on asyncio."""

    def __init__(
        self, name: str, spec: EndpointSpec, rtp: tuple[int, int], callers: int, control: tuple[str, int]
    ) -> None:
        self.name = name
        self.spec = spec
        self.rtp = rtp
        self.callers = callers
        self.control = control
        self.public_port = spec.sip_port
        self.pj = PjThread()
        self.legs: dict[str, WorkerLeg] = {}
        # leg id -> (caller audio port, tap port): the pump reads only ports, never legs.
        self._capturing: dict[str, tuple[CapturePort, CapturePort | None]] = {}
        self.spool = spool_dir(f"ivr-{name}-")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._accounts: list[_Account] = []
        self._stopping = asyncio.Event()
        self._capture_wanted = asyncio.Event()
        self._early: list[tuple[dict[str, Any], bytes]] | None = []

    # --- pjsua2 thread ----------------------------------------------------------------

    def _init(self, ep: pj.Endpoint, trunk: TrunkConfig | None) -> None:
        init_endpoint(ep, self.spec)
        if "udp" in self.spec.transports:
            self.pj.set_waker(self.spec.host, self.spec.sip_port)
        acc = _Account(self)
        acc.create(account_config(self.spec.host, self.spec.sip_port, *self.rtp))
        self._accounts.append(acc)
        if trunk is not None and trunk.enabled:
            self._accounts.append(self._trunk_account(trunk))

    def _trunk_account(self, trunk: TrunkConfig) -> _Account:
        acfg = account_config(self.spec.host, self.spec.sip_port, *self.rtp, user=trunk.user or "ivr")
        registrar = trunk.registrar if trunk.registrar.startswith("sip") else f"sip:{trunk.registrar}"
        domain = registrar.split(":", 1)[1].split(";")[0]
        acfg.idUri = f"sip:{trunk.user}@{domain}"
        acfg.regConfig.registrarUri = registrar
        acfg.regConfig.timeoutSec = trunk.reregister_seconds
        acfg.regConfig.retryIntervalSec = 30
        # The trunk must send INVITEs to the public SIP port (Kamailio), not to this worker.
        acfg.sipConfig.contactForced = f"<sip:{trunk.user or 'ivr'}@{self.spec.host}:{self.public_port}>"
        acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", trunk.realm, trunk.user, 0, trunk.password))
        acc = _Account(self)
        acc.create(acfg)
        return acc

    def incoming(self, account: pj.Account, prm: pj.OnIncomingCallParam) -> None:
        """A new INVITE: ring and offer it to the control process, or refuse it."""
        leg_id = f"{self.name}-{os.urandom(5).hex()}"
        leg = WorkerLeg(self, account, leg_id, outbound=False, call_id=prm.callId)
        self.legs[leg_id] = leg
        inbound = sum(1 for x in self.legs.values() if not x.outbound and not x.ended)
        ci = leg.getInfo()
        if self._writer is None:
            log.warning("call %s from %s refused: no control process (503)", leg_id, ci.remoteUri)
            leg.answer_call(503)
            return
        if inbound > self.callers:
            log.info("call %s from %s refused: %d callers already (486)", leg_id, ci.remoteUri, inbound - 1)
            leg.answer_call(486)
            return
        headers = dict(_X_HEADER.findall(prm.rdata.wholeMsg))
        leg.answer_call(180)
        self.emit(
            {
                "t": "offered",
                "leg": leg_id,
                "caller": ci.remoteUri,
                "callee": ci.localUri,
                "sip_call_id": ci.callIdString,
                "headers": headers,
            }
        )

    def leg_ended(self, leg: WorkerLeg) -> None:
        """Forget a finished leg at once, on this thread, before pjsua reuses its slot (pjsua2 thread)."""
        self.legs.pop(leg.leg_id, None)
        gc.collect()

    def capture_changed(self, leg: WorkerLeg) -> None:
        """Register or unregister a leg with the audio pump."""
        if leg.capture is not None and not leg.ended:
            self._capturing[leg.leg_id] = (leg.capture, leg.tap_out)
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self._capture_wanted.set)
        else:
            self._capturing.pop(leg.leg_id, None)

    def post(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the pjsua2 thread (safe from any thread, including media callbacks)."""
        self.pj.submit(fn)

    def emit(self, header: dict[str, Any], payload: bytes = b"") -> None:
        """Send an event to the control process (safe from any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._send, header, payload)

    def _send(self, header: dict[str, Any], payload: bytes) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(wire.encode(header, payload))
        elif self._early is not None:
            # Before the link is up (e.g. a trunk registration answered during start-up).
            self._early.append((header, payload))

    # --- commands from the control process (asyncio) ---------------------------------

    def _command(self, msg: dict[str, Any], payload: bytes) -> None:
        kind = msg["t"]
        if kind == "shutdown":
            self._stopping.set()
            return
        leg_id = msg.get("leg", "")
        if kind == "dial":
            self.pj.submit(lambda: self._dial(leg_id, msg["target"], msg.get("headers", {}), msg.get("bridge"),
                                              bool(msg.get("trunk"))))  # fmt: skip
            return

        def run() -> None:
            leg = self.legs.get(leg_id)
            if leg is None or leg.ended:
                return  # the call ended while the command was in flight
            try:
                _LEG_COMMANDS[kind](leg, msg, payload)
            except pj.Error as exc:
                log.warning("leg %s: %s failed: %s", leg_id, kind, exc.info())
                self.emit({"t": "error", "leg": leg_id, "cmd": kind, "message": exc.info()})

        self.pj.submit(run)

    def _dial(self, leg_id: str, target: str, headers: dict[str, str], bridge: str | None, trunk: bool) -> None:
        if len(self.legs) >= MAX_LEGS:
            self.emit({"t": "hangup", "leg": leg_id, "code": 486, "reason": "worker has no free leg", "by": "system"})
            return
        # Through the trunk: its account answers the trunk's digest challenge (worker 0 has it, registered).
        account = self._accounts[-1] if trunk else self._accounts[0]
        leg = WorkerLeg(self, account, leg_id, outbound=True)
        self.legs[leg_id] = leg
        prm = pj.CallOpParam(True)
        prm.txOption = sip_headers(headers)
        try:
            leg.makeCall(target, prm)
        except pj.Error as exc:
            self.legs.pop(leg_id, None)
            self.emit({"t": "hangup", "leg": leg_id, "code": 500, "reason": exc.info(), "by": "system"})
            return
        peer = self.legs.get(bridge or "")
        if peer is not None:
            leg.bridge_to(peer)

    async def _pump(self) -> None:
        while True:
            if not self._capturing:
                self._capture_wanted.clear()
                await self._capture_wanted.wait()  # no 20 ms wake-ups while nobody listens
            await asyncio.sleep(PUMP_SECONDS)
            self._send_audio()

    def _send_audio(self) -> None:
        # A plain method, not inline in _pump: the coroutine frame must not keep the last
        # leg or port alive, or it would outlive libDestroy and abort the process.
        items: list[list[Any]] = []
        chunks: list[bytes] = []
        for leg_id, (capture, tap_out) in list(self._capturing.items()):
            for direction, port in (("in", capture), ("out", tap_out)):
                if port is None:
                    continue
                frames = port.frames
                while frames:
                    data = frames.popleft()
                    items.append([leg_id, direction, port.rate, len(data)])
                    chunks.append(data)
        if items:
            self._send({"t": "audio", "items": items}, b"".join(chunks))

    async def _report_stats(self) -> None:
        def sample() -> dict[str, Any]:
            ep = self.pj.endpoint
            return {
                "legs": len(self.legs),
                "conf_ports": ep.mediaActivePorts() if ep is not None else 0,
                "capturing": len(self._capturing),
            }

        page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
        while True:
            stats = await self._on_pj(sample)
            with open("/proc/self/statm") as f:
                stats["rss_kb"] = int(f.read().split()[1]) * page_kb
            stats["spool_files"] = sum(1 for _ in self.spool.iterdir())
            self._send({"t": "stats", **stats}, b"")
            await asyncio.sleep(STATS_SECONDS)

    # --- lifetime ---------------------------------------------------------------------

    async def run(self, trunk: TrunkConfig | None = None) -> int:
        """Start SIP, link to the control process, serve until shutdown; returns an exit code."""
        self._loop = asyncio.get_running_loop()
        try:
            await asyncio.wrap_future(self.pj.start(lambda ep: self._init(ep, trunk), self.spec.log_level))
            await self._on_pj(lambda: None)
        except TelephonyError as exc:
            log.error("worker %s: %s", self.name, exc)
            return 2
        # This thread touches pjsua2 objects too (the audio pump may drop the last reference to a
        # capture port): pjlib must know it, or it aborts ("unknown/external thread").
        pj.Endpoint.instance().libRegisterThread("worker-asyncio")
        reader, self._writer = await self._connect()
        self._send(
            {
                "t": "hello",
                "name": self.name,
                "pid": os.getpid(),
                "sip_port": self.spec.sip_port,
                "callers": self.callers,
            },
            b"",
        )
        early, self._early = self._early or [], None
        for header, payload in early:
            self._send(header, payload)
        log.info("worker %s listening on %s:%d", self.name, self.spec.host, self.spec.sip_port)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self._stopping.set)
        tasks = [
            asyncio.create_task(self._read(reader)),
            asyncio.create_task(self._pump()),
            asyncio.create_task(self._report_stats()),
        ]
        await self._stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._shutdown()
        return 0

    async def _on_pj(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the pjsua2 thread and await it (no executor thread: each would cost the worker memory)."""
        return await asyncio.wrap_future(self.pj.submit(fn))

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port = self.control
        for _ in range(300):
            try:
                return await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.1)
        raise TelephonyError(f"worker {self.name}: control process not reachable on {host}:{port}")

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                msg, payload = await wire.read_message(reader)
                self._command(msg, payload)
        except (EOFError, ConnectionError, TelephonyError) as exc:
            if not self._stopping.is_set():
                log.warning("worker %s: control link lost (%s); ending calls", self.name, exc)
            self._writer = None
            self._stopping.set()

    async def _shutdown(self) -> None:
        def hangup_all() -> int:
            for leg in list(self.legs.values()):
                leg.hangup_call(0 if leg.answered or leg.outbound else 503)
            return len(self.legs)

        await self._on_pj(hangup_all)
        for _ in range(30):  # BYE transactions normally finish in a few ms on loopback
            if not await self._on_pj(lambda: len(self.legs)):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.05)  # let final hangup events reach the control link
        if self._writer is not None:
            await self._writer.drain()

        def forget() -> None:
            self.legs.clear()
            self._capturing.clear()
            for acc in self._accounts:
                acc.shutdown()
            self._accounts.clear()

        await asyncio.to_thread(self.pj.stop, forget)
        for f in self.spool.glob("*"):
            f.unlink(missing_ok=True)
        self.spool.rmdir()
        log.info("worker %s stopped", self.name)


def _play(leg: WorkerLeg, msg: dict[str, Any], payload: bytes) -> None:
    leg.playlist.add(msg["pb"], payload, int(msg["rate"]))


_LEG_COMMANDS: dict[str, Callable[[WorkerLeg, dict[str, Any], bytes], None]] = {
    "answer": lambda leg, m, p: leg.answer_call(int(m.get("code", 200)), m.get("headers")),
    "hangup": lambda leg, m, p: leg.hangup_call(int(m.get("code", 0))),
    "play": _play,
    "stop_playback": lambda leg, m, p: leg.playlist.stop(),
    "dtmf": lambda leg, m, p: leg.send_dtmf(m["digits"], m.get("method", "rfc4733")),
    "transfer": lambda leg, m, p: leg.transfer(m["target"], m.get("headers", {})),
    "capture": lambda leg, m, p: leg.set_capture(int(m.get("rate", 16000)), bool(m["on"]), bool(m.get("tap"))),
}


def worker_spec(sip: SipConfig, workers: WorkersConfig, index: int, standalone: bool) -> EndpointSpec:
    """Endpoint of worker `index`: the public SIP port when standalone, else base_port + index."""
    return EndpointSpec(
        host=sip.host,
        sip_port=sip.port if standalone else workers.base_port + index,
        transports=sip.transports,
        tls_port=sip.tls_port + (0 if standalone else 100 + index),
        tls_cert=sip.tls_cert,
        tls_key=sip.tls_key,
        codecs=sip.codecs,
        user_agent=sip.user_agent,
        max_calls=MAX_LEGS,
        log_level=workers.log_level,
    )


def run_worker(sip: SipConfig, workers: WorkersConfig, index: int, standalone: bool) -> int:
    """Entry point of `ivr worker`."""
    spec = worker_spec(sip, workers, index, standalone)
    rtp = (workers.rtp_port_start + index * workers.rtp_ports_per_worker, workers.rtp_ports_per_worker)
    worker = MediaWorker(
        f"w{index}", spec, rtp, workers.callers_per_worker, (workers.control_host, workers.control_port)
    )
    worker.public_port = sip.port
    trunk = sip.trunk if index == 0 else None
    return asyncio.run(worker.run(trunk))
