"""`RemoteCallLeg`: the asyncio CallLeg of the control process, backed by a media worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ivr.core.audio import Resampler, check_call_rate
from ivr.core.errors import CallEndedError, TelephonyError
from ivr.core.eventqueue import EventQueue
from ivr.core.events import AudioChunk, CallAnswered, DtmfDigit, Event, Hangup, PlaybackDone, PlaybackStarted

if TYPE_CHECKING:
    from telephony.switchboard import WorkerLink

log = logging.getLogger(__name__)

_AUDIO_BACKLOG = 250  # 5 s of 20 ms frames; older frames are dropped if a consumer stalls


@dataclass
class _Consumer:
    """One reader of a leg's audio: its queue, the rate it wants, and whether it wants both directions."""

    rate: int
    tap: bool
    queue: asyncio.Queue[AudioChunk | None] = field(default_factory=lambda: asyncio.Queue(_AUDIO_BACKLOG))
    resamplers: dict[str, Resampler] = field(default_factory=dict)


class RemoteCallLeg:
    """One call leg on a media worker, driven over the worker link."""

    def __init__(
        self,
        link: WorkerLink,
        call_id: str,
        caller: str,
        callee: str,
        headers: Mapping[str, str] | None = None,
        sip_call_id: str = "",
        outbound: bool = False,
    ) -> None:
        self.link = link
        self.call_id = call_id
        self.caller = caller
        self.callee = callee
        self.headers = dict(headers or {})
        self.sip_call_id = sip_call_id
        self.outbound = outbound
        self.worker = link.name
        self.codec = ""
        self.hangup_event: Hangup | None = None
        self._answered = asyncio.Event()
        self._ended = asyncio.Event()
        self._events = EventQueue()
        self._consumers: list[_Consumer] = []
        self._capture_rate = 16000
        self._playbacks: dict[str, asyncio.Future[bool]] = {}
        self._transfer: asyncio.Future[int] | None = None

    # --- CallLeg ------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        """True once the leg has hung up."""
        return self._ended.is_set()

    async def answer(self, timeout: float = 5.0) -> None:
        """Send 200 OK and wait until the call is confirmed."""
        self._send({"t": "answer", "code": 200})
        await self.wait_answered(timeout)

    async def wait_answered(self, timeout: float) -> None:
        """Wait for the leg to be connected; raises CallEndedError if it ends first."""
        ended = asyncio.create_task(self._ended.wait())
        answered = asyncio.create_task(self._answered.wait())
        try:
            await asyncio.wait({ended, answered}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when cancelled: no waiter task may outlive this call
            ended.cancel()
            answered.cancel()
        if self._answered.is_set():
            return
        if self.ended:
            h = self.hangup_event
            raise CallEndedError(
                f"call {self.call_id} ended before answer: {h.sip_code if h else ''} {h.reason if h else ''}"
            )
        raise TelephonyError(f"call {self.call_id} not answered within {timeout:.0f} s")

    async def reject(self, code: int = 486, headers: Mapping[str, str] | None = None) -> None:
        """Refuse an offered call with a final response (and headers, e.g. Retry-After on a 503)."""
        self._send({"t": "answer", "code": code, "headers": dict(headers or {})})

    async def events(self) -> AsyncIterator[Event]:  # type: ignore[override]
        """Call events (urgent first); ends after the Hangup event."""
        while True:
            event = await self._events.get()
            yield event
            if isinstance(event, Hangup):
                return

    async def audio(self, rate: int = 16000) -> AsyncIterator[AudioChunk]:  # type: ignore[override]
        """Caller audio, 20 ms PCM16 frames at `rate`, until hangup."""
        async for chunk in self._capture(rate, tap=False):
            yield chunk

    async def tap(self, rate: int = 16000) -> AsyncIterator[AudioChunk]:  # type: ignore[override]
        """Both directions for recording: 'in' (caller) and 'out' (what the caller hears)."""
        async for chunk in self._capture(rate, tap=True):
            yield chunk

    async def play(self, pcm: bytes, rate: int) -> str:
        """Queue audio; returns its playback id. Await `wait_playback(id)` for the end."""
        check_call_rate(rate)
        playback_id = uuid.uuid4().hex[:12]
        self._playbacks[playback_id] = asyncio.get_running_loop().create_future()
        self._send({"t": "play", "pb": playback_id, "rate": rate}, pcm)
        return playback_id

    async def wait_playback(self, playback_id: str) -> bool:
        """Wait until a playback ends; True if it was interrupted (or the call ended)."""
        fut = self._playbacks.get(playback_id)
        if fut is None:
            return True
        return await fut

    async def stop_playback(self) -> None:
        """Cut all queued audio (barge-in)."""
        if not self.ended:
            self._send({"t": "stop_playback"})

    async def send_dtmf(self, digits: str, method: str = "rfc4733") -> None:
        """Send DTMF to the far end."""
        self._send({"t": "dtmf", "digits": digits, "method": method})

    async def hangup(self, reason: str = "") -> None:
        """End the call (BYE, or a final response if unanswered); idempotent."""
        if self.ended:
            return
        self._send({"t": "hangup"})
        await self._ended.wait()

    async def transfer(self, target: str, headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> int:
        """Blind transfer with REFER; returns the final status the target reported (e.g. 200)."""
        self._transfer = asyncio.get_running_loop().create_future()
        self._send({"t": "transfer", "target": target, "headers": dict(headers or {})})
        return await asyncio.wait_for(self._transfer, timeout)

    async def bridge(
        self, target: str, headers: Mapping[str, str] | None = None, timeout: float = 30.0
    ) -> RemoteCallLeg:
        """Dial `target` from this leg's worker and bridge the two once it answers (B2BUA)."""
        if self.ended:
            raise CallEndedError(f"call {self.call_id} has ended")
        other = self.link.dial(target, headers or {}, self.call_id, self)
        try:
            await other.wait_answered(timeout)
        except (TelephonyError, asyncio.CancelledError):
            # Timed out, failed, or the caller gave up (cancelled): the agent's phone must stop ringing.
            if not other.ended:
                with contextlib.suppress(TelephonyError, TimeoutError):
                    await asyncio.wait_for(other.hangup(), 5.0)
            raise
        return other

    # --- from the worker link -----------------------------------------------------------

    def _send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        if self.ended:
            raise CallEndedError(f"call {self.call_id} has ended")
        header["leg"] = self.call_id
        self.link.send(header, payload)

    async def _capture(self, rate: int, tap: bool) -> AsyncIterator[AudioChunk]:
        check_call_rate(rate)
        if self.ended:
            return
        # Any number of consumers (recognizer, recorder, voicemail ...) share one capture in the
        # worker, at the first consumer's rate; others get their own rate by resampling here.
        consumer = _Consumer(rate=rate, tap=tap)
        first = not self._consumers
        self._consumers.append(consumer)
        if first:
            self._capture_rate = rate
        if first or (tap and not any(c.tap for c in self._consumers[:-1])):
            self._send({"t": "capture", "rate": self._capture_rate, "on": True,
                        "tap": any(c.tap for c in self._consumers)})  # fmt: skip
        try:
            while (chunk := await consumer.queue.get()) is not None:
                yield chunk
        finally:
            self._consumers.remove(consumer)
            if not self.ended and not self._consumers:
                self._send({"t": "capture", "rate": self._capture_rate, "on": False})

    def _audio(self, pcm: bytes, rate: int, direction: str) -> None:
        at = time.monotonic()
        for consumer in self._consumers:
            if direction != "in" and not consumer.tap:
                continue
            data = pcm
            if rate != consumer.rate:
                resampler = consumer.resamplers.get(direction)
                if resampler is None or resampler.src_rate != rate:
                    resampler = consumer.resamplers[direction] = Resampler(rate, consumer.rate)
                data = resampler.process(pcm)
            q = consumer.queue
            if q.full():
                q.get_nowait()  # a stalled consumer loses the oldest audio, never the newest
            q.put_nowait(AudioChunk(self.call_id, pcm=data, rate=consumer.rate, direction=direction, at=at))

    def _event(self, msg: dict[str, Any]) -> None:
        kind, now = msg["t"], time.monotonic()
        if kind == "answered":
            self.codec = msg.get("codec", "")
            self._answered.set()
            self._events.put(CallAnswered(self.call_id, codec=self.codec, at=now))
            log.info(
                "call %s answered: caller=%s worker=%s codec=%s%s",
                self.call_id,
                self.caller,
                self.worker,
                self.codec,
                " (outbound)" if self.outbound else "",
            )
        elif kind == "dtmf":
            self._events.put(DtmfDigit(self.call_id, digit=msg["digit"], method=msg["method"], at=now))
        elif kind == "playback_started":
            self._events.put(PlaybackStarted(self.call_id, playback_id=msg["pb"], at=now))
        elif kind == "playback_done":
            fut = self._playbacks.pop(msg["pb"], None)
            if fut is not None and not fut.done():
                fut.set_result(bool(msg["interrupted"]))
            self._events.put(PlaybackDone(self.call_id, playback_id=msg["pb"], interrupted=msg["interrupted"], at=now))
        elif kind == "transfer_status":
            if msg["final"] and self._transfer is not None and not self._transfer.done():
                self._transfer.set_result(int(msg["code"]))
        elif kind == "error":
            log.warning("call %s: %s failed in worker: %s", self.call_id, msg["cmd"], msg["message"])
            if msg["cmd"] == "transfer" and self._transfer is not None and not self._transfer.done():
                self._transfer.set_exception(TelephonyError(f"transfer failed: {msg['message']}"))
        elif kind == "hangup":
            self._hangup(msg, now)

    def _hangup(self, msg: dict[str, Any], now: float) -> None:
        if self.ended:
            return
        event = Hangup(
            self.call_id, by=msg["by"], reason=msg.get("reason", ""), sip_code=int(msg.get("code", 0)), at=now
        )
        self.hangup_event = event
        self._ended.set()
        log.info("call %s ended by %s: %s %s", self.call_id, event.by, event.sip_code, event.reason)
        for fut in self._playbacks.values():
            if not fut.done():
                fut.set_result(True)
        self._playbacks.clear()
        if self._transfer is not None and not self._transfer.done():
            self._transfer.set_exception(CallEndedError(f"call {self.call_id} ended during transfer"))
        for q in (c.queue for c in self._consumers):
            if q.full():
                q.get_nowait()
            q.put_nowait(None)
        self._events.put(event)
