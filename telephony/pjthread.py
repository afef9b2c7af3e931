"""pjsua2 on one dedicated thread: endpoint lifetime, event polling and marshalled calls.

pjsua2 is created with `threadCnt = 0`; this thread alone runs `libHandleEvents`, and every
other thread hands work to it with `submit` (see DEVELOPERS.md: pjsua2 threading traps).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import gc
import logging
import queue
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pjsua2 as pj

from ivr.core.errors import TelephonyError
from telephony.endpoint import create_endpoint

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long libHandleEvents may block when nobody wakes it. Work submitted from other
# threads wakes it at once (see `set_waker`); without a waker this bounds command latency.
POLL_MS = 10
WOKEN_POLL_MS = 200
_WAKE = b"\r\n\r\n"  # a SIP keep-alive ping (RFC 5626): pjsip reads and ignores it

_VecPair = ctypes.c_void_p * 2


def _vector_bytes_fast(vec: pj.ByteVector) -> bytes:
    # std::vector<unsigned char> in libstdc++ starts with (begin, end, capacity) pointers.
    begin, end = ctypes.cast(int(vec.this), ctypes.POINTER(_VecPair)).contents
    if not begin or not end:
        return b""
    return ctypes.string_at(begin, end - begin)


def _vector_bytes_slow(vec: pj.ByteVector) -> bytes:
    return bytes(vec)


def _pick_vector_reader() -> Callable[[pj.ByteVector], bytes]:
    # bytes(ByteVector) iterates element by element: ~420 µs per 640-byte frame, measured.
    # Reading the vector's buffer directly takes ~2.4 µs; verify the layout before trusting it.
    probe = bytes(range(256)) * 3
    try:
        if _vector_bytes_fast(pj.ByteVector(probe)) == probe and _vector_bytes_fast(pj.ByteVector()) == b"":
            return _vector_bytes_fast
    except (ValueError, TypeError, OSError):  # pragma: no cover - exotic ABI
        pass
    log.warning("pjsua2 ByteVector layout not recognised; using the slow copy path for audio frames")
    return _vector_bytes_slow


vector_bytes = _pick_vector_reader()


class PjThread:
    """Owns the pjsua2 Endpoint on a dedicated thread and runs work submitted to it."""

    def __init__(self, name: str = "pjsua2") -> None:
        self._work: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._running = False
        self._poll_ms = POLL_MS
        self._waker: socket.socket | None = None
        self._wake_to: tuple[str, int] | None = None
        self.endpoint: pj.Endpoint | None = None

    def start(self, init: Callable[[pj.Endpoint], None], log_level: int = 1) -> concurrent.futures.Future[None]:
        """Start the thread; it creates the endpoint and runs `init(endpoint)`. The future says when that is done."""
        self._running = True
        self._thread.start()

        def create() -> None:
            self.endpoint = create_endpoint(log_level)
            init(self.endpoint)

        return self.submit(create)

    def set_waker(self, host: str, port: int) -> None:
        """Wake libHandleEvents by sending a keep-alive to our own SIP UDP port.

        Polling every 10 ms instead cost ~1% of a core per idle worker (measured), which
        adds up to a whole core at 100 workers; a datagram wakes select() at once.
        """
        self._waker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._waker.bind((host, 0))
        self._wake_to = (host, port)
        self._poll_ms = WOKEN_POLL_MS

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run `fn` on the pjsua2 thread; the future carries its result or exception."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        if not self._running:
            fut.set_exception(TelephonyError("the SIP engine is stopped"))
            return fut
        self._work.put((fn, fut))
        if self._waker is not None and self._wake_to is not None and not self.on_thread():
            try:
                self._waker.sendto(_WAKE, self._wake_to)
            except OSError:
                pass  # the next poll picks the work up anyway
        return fut

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run `fn` on the pjsua2 thread and wait for it (never call from that thread)."""
        return self.submit(fn).result(timeout)

    def on_thread(self) -> bool:
        """True when running on the pjsua2 thread."""
        return threading.current_thread() is self._thread

    def _drain(self) -> None:
        while True:
            try:
                item = self._work.get_nowait()
            except queue.Empty:
                return
            if item is None:
                self._running = False
                return
            fn, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

    def _run(self) -> None:
        while self._running:
            self._drain()
            ep = self.endpoint
            if ep is not None and self._running:
                ep.libHandleEvents(self._poll_ms)
        self._drain()

    def stop(self, before_destroy: Callable[[], None] | None = None, timeout: float = 10.0) -> None:
        """Run `before_destroy`, then gc and libDestroy on the pjsua2 thread, then end the thread."""
        if not self._running:
            return

        def _destroy() -> None:
            if before_destroy is not None:
                before_destroy()
            gc.collect()
            survivors = [o for o in gc.get_objects() if isinstance(o, pj.AudioMedia | pj.Call)]
            if survivors:
                log.error("pjsua2 objects still alive at shutdown: %s", [type(o).__name__ for o in survivors])
                for o in survivors:
                    log.error("  %r referenced by %s", o, [type(r).__name__ for r in gc.get_referrers(o)][:8])
            ep = self.endpoint
            if ep is not None:
                ep.libDestroy()
            self.endpoint = None

        try:
            self.call(_destroy, timeout)
        finally:
            self._waker, waker = None, self._waker
            self._work.put(None)
            self._thread.join(timeout)
            if waker is not None:
                waker.close()
