"""DecodePool: the recognizer's threads, with a background lane that never holds up a bot turn.

The bot's turns decode in the foreground; the speech of calls bridged to an agent decodes in the
background. The pool has `workers` + `background` threads and lets at most `background` of them run
background jobs, so `workers` threads are always free for the foreground: a bot turn never waits for
a thread behind a bridged segment, and a queued foreground job always starts before a queued
background one. Engines whose own library pools model replicas (CTranslate2's `num_workers`) size
that pool to all the threads, so a bot decode never queues there either.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DecodePool(Executor):
    """An executor of `workers` foreground threads plus `background` threads shared by both lanes."""

    def __init__(self, workers: int, background: int = 0, *, name: str = "asr") -> None:
        if workers < 1 or background < 0:
            raise ValueError(f"a decode pool needs workers >= 1 and background >= 0 (got {workers}, {background})")
        self.workers, self.background_workers = workers, background
        self._name = name
        self._lock = threading.Condition()
        self._foreground: deque[_Job] = deque()
        self._background: deque[_Job] = deque()
        self._running_background = 0
        self._busy = 0
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.background = _Lane(self)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Queue a foreground job (a bot turn's decode)."""
        return self._submit(self._foreground, fn, args, kwargs)

    @property
    def backlog(self) -> int:
        """Foreground jobs waiting for a thread (the decode backlog on /metrics)."""
        return len(self._foreground)

    @property
    def background_backlog(self) -> int:
        """Background jobs waiting for a thread."""
        return len(self._background)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking jobs; the threads finish what is queued (or drop it with `cancel_futures`) and exit."""
        with self._lock:
            self._closed = True
            if cancel_futures:
                for queue in (self._foreground, self._background):
                    while queue:
                        queue.popleft()[0].cancel()
            self._lock.notify_all()
        if wait:
            for thread in self._threads:
                thread.join()

    def _submit(self, queue: deque[_Job], fn: Callable[..., Any], args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Future[Any]:  # fmt: skip
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to a decode pool after shutdown")
            if not self._threads:  # started with the first job: a process that never decodes has no threads
                # As ThreadPoolExecutor does: at interpreter exit, let running decodes finish before the
                # interpreter goes away under them (daemon threads would be frozen mid-call in the engine).
                register = getattr(threading, "_register_atexit", None)
                if register is not None:
                    register(self.shutdown)
                for i in range(self.workers + self.background_workers):
                    thread = threading.Thread(target=self._work, name=f"{self._name}_{i}", daemon=True)
                    self._threads.append(thread)
                    thread.start()
            queue.append((future, fn, args, kwargs))
            self._lock.notify_all()
        return future

    def _take(self) -> tuple[_Job, bool] | None:
        """The next job a free thread may run (foreground first), or None once closed and drained."""
        with self._lock:
            while True:
                if self._foreground:
                    self._busy += 1
                    return self._foreground.popleft(), False
                # A bridged decode starts only while no bot decode runs: on 2 cores they would share the CPU and
                # the bot's turn would wait (bench/bridge_transcribe.py: p50 600 -> 1634 ms with 10 bridged calls).
                idle_foreground = self._busy == self._running_background
                if self._background and self._running_background < self.background_workers and idle_foreground:
                    self._busy += 1
                    self._running_background += 1
                    return self._background.popleft(), True
                if self._background and self.background_workers == 0 and self._busy == 0:
                    self._busy += 1  # no background threads: a background job runs only on an idle pool
                    return self._background.popleft(), False
                if self._closed:
                    return None
                self._lock.wait()

    def _work(self) -> None:
        while (taken := self._take()) is not None:
            (future, fn, args, kwargs), background = taken
            try:
                if future.set_running_or_notify_cancel():  # False: cancelled while it waited
                    try:
                        future.set_result(fn(*args, **kwargs))
                    except BaseException as exc:
                        future.set_exception(exc)
            finally:
                with self._lock:
                    self._busy -= 1
                    if background:
                        self._running_background -= 1
                    self._lock.notify_all()


class _Lane(Executor):
    """The pool's background lane, as an Executor (what a background recognizer's streams submit to)."""

    def __init__(self, pool: DecodePool) -> None:
        self._pool = pool

    @property
    def threads(self) -> int:
        """How many of this lane's jobs run at once (the oldest waiting ones: the lane is first in, first out)."""
        return self._pool.background_workers or 1

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Queue a background job (a bridged call's segment)."""
        return self._pool._submit(self._pool._background, fn, args, kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """The lane is closed with its pool."""
