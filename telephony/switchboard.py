"""Control-process end of the worker links: accepts workers and exposes their calls as CallLegs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from ivr.core.errors import TelephonyError
from telephony import wire
from telephony.remote_leg import RemoteCallLeg

log = logging.getLogger(__name__)


class WorkerLink:
    """One connected media worker."""

    def __init__(self, board: Switchboard, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.board = board
        self.reader, self.writer = reader, writer
        self.name = "?"
        self.pid = 0
        self.sip_port = 0
        self.legs: dict[str, RemoteCallLeg] = {}
        self.stats: dict[str, Any] = {}
        self.closed = False

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        """Send a command to the worker; a closed link raises TelephonyError."""
        if self.closed or self.writer.is_closing():
            raise TelephonyError(f"media worker {self.name} is gone")
        self.writer.write(wire.encode(header, payload))

    def dial(
        self,
        target: str,
        headers: Mapping[str, str],
        bridge: str | None,
        caller_leg: RemoteCallLeg | None,
        *,
        trunk: bool = False,
    ) -> RemoteCallLeg:
        """Place an outbound leg from this worker (optionally bridged to an existing leg, or via the trunk)."""
        leg_id = f"{self.name}-{uuid.uuid4().hex[:10]}"
        caller = caller_leg.callee if caller_leg is not None else "ivr"
        leg = RemoteCallLeg(self, leg_id, caller=caller, callee=target, outbound=True)
        self.legs[leg_id] = leg
        self.send({"t": "dial", "leg": leg_id, "target": target, "headers": dict(headers), "bridge": bridge,
                   "trunk": trunk})  # fmt: skip
        return leg

    async def serve(self) -> None:
        """Read events from the worker until it disconnects."""
        try:
            while True:
                msg, payload = await wire.read_message(self.reader)
                self._dispatch(msg, payload)
        except (EOFError, ConnectionError) as exc:
            log.debug("worker link %s closed: %s", self.name, exc)
        except TelephonyError as exc:
            log.error("worker link %s: %s", self.name, exc)
        finally:
            self.closed = True
            self.writer.close()
            self.board._link_closed(self)

    def _dispatch(self, msg: dict[str, Any], payload: bytes) -> None:
        kind = msg["t"]
        if kind == "hello":
            self.name, self.pid, self.sip_port = msg["name"], msg["pid"], msg["sip_port"]
            self.board._link_ready(self)
            return
        if kind == "offered":
            leg = RemoteCallLeg(
                self,
                msg["leg"],
                caller=msg["caller"],
                callee=msg["callee"],
                headers=msg.get("headers", {}),
                sip_call_id=msg.get("sip_call_id", ""),
            )
            self.legs[leg.call_id] = leg
            self.board._offer(leg)
            return
        if kind == "audio":
            offset = 0
            for leg_id, direction, rate, size in msg["items"]:
                receiver = self.legs.get(leg_id)
                if receiver is not None:
                    receiver._audio(payload[offset : offset + size], rate, direction)
                offset += size
            return
        if kind == "stats":
            self.stats = {k: v for k, v in msg.items() if k != "t"}
            return
        if kind == "reg_state":
            self.board.registration = (msg["code"], msg["reason"])
            return
        target = self.legs.get(msg.get("leg", ""))
        if target is None:
            return
        target._event(msg)
        if kind == "hangup":
            self.legs.pop(target.call_id, None)

    def fail_all(self, reason: str) -> None:
        """The worker died: end every leg it carried."""
        for leg in list(self.legs.values()):
            log.warning("call %s interrupted: %s", leg.call_id, reason)
            leg._event({"t": "hangup", "code": 0, "reason": reason, "by": "system"})
        self.legs.clear()


class Switchboard:
    """TCP server the media workers connect to; yields their offered calls."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.workers: dict[str, WorkerLink] = {}
        self.registration: tuple[int, str] | None = None
        self._offers: asyncio.Queue[RemoteCallLeg] = asyncio.Queue()
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen for workers."""
        try:
            self._server = await asyncio.start_server(self._accept, self.host, self.port)
        except OSError as exc:
            raise TelephonyError(
                f"cannot listen for media workers on {self.host}:{self.port} ({exc}); "
                "change [workers] control_port or stop the other ivr instance"
            ) from exc

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = WorkerLink(self, reader, writer)
        await link.serve()

    def _link_ready(self, link: WorkerLink) -> None:
        old = self.workers.get(link.name)
        if old is not None and old is not link:
            old.fail_all(f"worker {link.name} was replaced")
        self.workers[link.name] = link
        log.info("media worker %s (pid %d) ready on SIP port %d", link.name, link.pid, link.sip_port)
        self._changed.set()

    def _link_closed(self, link: WorkerLink) -> None:
        if self.workers.get(link.name) is link:
            del self.workers[link.name]
            link.fail_all(f"media worker {link.name} died")
        self._changed.set()

    def _offer(self, leg: RemoteCallLeg) -> None:
        self._offers.put_nowait(leg)

    async def calls(self) -> AsyncIterator[RemoteCallLeg]:
        """Offered inbound calls, as they arrive."""
        while True:
            yield await self._offers.get()

    async def wait_workers(self, count: int, timeout: float) -> None:
        """Wait until `count` workers are connected."""
        deadline = time.monotonic() + timeout
        while len(self.workers) < count:
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TelephonyError(
                    f"only {len(self.workers)} of {count} media workers started within {timeout:.0f} s; "
                    "see the worker log lines above"
                )
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                continue

    def status(self) -> dict[str, Any]:
        """Health snapshot: workers with their legs, ports and memory, plus trunk registration."""
        return {
            "workers": {
                name: {"pid": w.pid, "sip_port": w.sip_port, "control_legs": len(w.legs), **w.stats}
                for name, w in sorted(self.workers.items())
            },
            "registration": list(self.registration) if self.registration else None,
        }

    async def call_out(
        self,
        target: str,
        headers: Mapping[str, str],
        *,
        timeout: float,
        trunk: bool = False,
        beside: RemoteCallLeg | None = None,
        on_worker: str | None = None,
    ) -> RemoteCallLeg:
        """Call `target` and wait for the answer (a callback's legs); a failure or a cancel ends the dial.

        A new call goes out from the worker with the fewest legs, or from `on_worker`, or from worker 0 (the one
        registered with the trunk) through the trunk; with `beside`, from that leg's worker, bridged to it once
        answered.
        """
        if beside is not None:
            leg = beside.link.dial(target, headers, beside.call_id, beside, trunk=trunk)
        else:
            where = on_worker or ("w0" if trunk else None)
            links = [w for w in self.workers.values() if not w.closed and where in (None, w.name)]
            if not links:
                raise TelephonyError("no media worker is up to place the call; see the worker log lines")
            leg = min(links, key=lambda w: (len(w.legs), w.name)).dial(target, headers, None, None, trunk=trunk)
        try:
            await leg.wait_answered(timeout)
        except (TelephonyError, asyncio.CancelledError):
            if not leg.ended:  # rang out, or given up on: the phone must stop ringing
                with contextlib.suppress(TelephonyError, TimeoutError):
                    await asyncio.wait_for(leg.hangup(), 5.0)
            raise
        return leg

    def active_legs(self) -> int:
        """Call legs currently up across all workers."""
        return sum(len(w.legs) for w in self.workers.values())

    async def stop(self, timeout: float = 5.0) -> None:
        """Ask every worker to hang up and exit, then stop listening."""
        for link in list(self.workers.values()):
            try:
                link.send({"t": "shutdown"})
            except TelephonyError:
                pass
        deadline = time.monotonic() + timeout
        while self.workers and time.monotonic() < deadline:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
