"""The write-behind thread: commits queued writes in batches, and rides out database outages.

While the database is unreachable, writes are kept in memory and appended (fsynced) to a
local spool file, so neither an outage nor a crash loses them; they are replayed in order
as soon as the database answers again (every write is idempotent, see ops.py).
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, InvalidStateError
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ivr.storage.ops import WriteOp, apply_ops
from ivr.storage.spool import Spool

log = logging.getLogger("ivr.storage")

_STILL_DOWN_LOG_SECONDS = 60.0


class _Barrier:
    def __init__(self) -> None:
        self.future: Future[None] = Future()

    def release(self) -> None:
        try:
            self.future.set_result(None)
        except InvalidStateError:  # the waiter gave up (flush timeout) and cancelled it
            pass


class _Stop:
    pass


class _Outage(Exception):
    pass


_Item = WriteOp | _Barrier | _Stop


def is_transient(exc: BaseException) -> bool:
    """True when `exc` means "the database is away", not "this write is wrong"."""
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    return isinstance(exc, PoolTimeoutError | DisconnectionError)


class BatchWriter:
    """Commits WriteOps from a dedicated thread in batches of up to `batch_size`."""

    def __init__(
        self,
        engine: Engine,
        spool: Spool,
        *,
        batch_size: int = 500,
        max_in_memory: int = 200_000,
        retry_min: float = 0.25,
        retry_max: float = 2.0,
        rejected_path: str | Path | None = None,
    ) -> None:
        self._engine = engine
        self._spool = spool
        self._batch_size = max(1, batch_size)
        self._max_in_memory = max_in_memory
        self._retry_min, self._retry_max = retry_min, retry_max
        self._retry_delay = retry_min
        self._rejected_path = Path(rejected_path) if rejected_path else spool.path.with_suffix(".rejected")
        self._q: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._pending: deque[WriteOp] = deque()
        self._spilled = False  # pending no longer holds everything: replay from the spool file
        self._waiting: list[_Barrier] = []
        self._down_since: float | None = None
        self._last_down_log = 0.0
        self._thread = threading.Thread(target=self._run, name="ivr-storage-writer", daemon=True)
        self._from_previous_run = False
        self.committed = 0
        self.rejected = 0

    # --- called from any thread ----------------------------------------------------------

    def start(self) -> None:
        """Load writes a previous run left in the spool, then start the thread."""
        if self._spool.exists():
            count = 0
            for op in self._spool:
                count += 1
                if not self._spilled:
                    self._pending.append(op)
                    if len(self._pending) > self._max_in_memory:
                        self._pending.clear()
                        self._spilled = True
            log.warning(
                "storage: found %d writes spooled by a previous run in %s; replaying them", count, self._spool.path
            )
            self._down_since = self._last_down_log = time.monotonic()
            self._retry_delay = 0.0
            self._from_previous_run = True
        self._thread.start()

    def submit(self, op: WriteOp) -> None:
        """Queue one write; never blocks."""
        self._q.put(op)

    def barrier(self) -> Future[None]:
        """A future that completes once every write submitted before it is committed."""
        b = _Barrier()
        self._q.put(b)
        return b.future

    def stop(self, timeout: float | None = None) -> bool:
        """Commit (or spool) what is queued and end the thread; False if it did not end in time."""
        if self._thread.is_alive():
            self._q.put(_Stop())
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def available(self) -> bool:
        """False while the database is unreachable."""
        return self._down_since is None

    @property
    def backlog(self) -> int:
        """Writes not yet committed (queued plus held during an outage)."""
        return self._q.qsize() + len(self._pending)

    # --- writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException:
            log.critical(
                "storage: the writer thread crashed; writes are no longer saved (%d held in %s); "
                "restart the control process to replay them",
                len(self._pending),
                self._spool.path,
                exc_info=True,
            )
            raise

    def _loop(self) -> None:
        stopping = False
        while True:
            if self._down_since is not None:
                stopping = self._hold_until_retry() or stopping
                if not self._replay():
                    if not stopping:
                        continue
                    log.warning(
                        "storage: database still unavailable at shutdown; %d writes stay in %s "
                        "and are replayed at the next start",
                        len(self._pending),
                        self._spool.path,
                    )
                    return
            if stopping and self._q.empty():
                return
            items = self._drain(self._q.get())
            stopping = stopping or isinstance(items[-1], _Stop)
            ops = [i for i in items if isinstance(i, WriteOp)]
            try:
                self._commit(ops)
            except _Outage as exc:
                self._enter_outage(exc.__cause__ or exc)
                self._hold(items)
            else:
                for item in items:
                    if isinstance(item, _Barrier):
                        item.release()

    def _drain(self, first: _Item) -> list[_Item]:
        items = [first]
        while len(items) < self._batch_size and not isinstance(items[-1], _Stop):
            try:
                items.append(self._q.get_nowait())
            except queue.Empty:
                break
        return items

    def _hold_until_retry(self) -> bool:
        """During an outage: keep and spool new writes until it is time to try again."""
        stopping = False
        deadline = time.monotonic() + self._retry_delay
        while (left := deadline - time.monotonic()) > 0 and not stopping:
            try:
                items = self._drain(self._q.get(timeout=left))
            except queue.Empty:
                break
            stopping = self._hold(items)
        self._retry_delay = min(self._retry_max, max(self._retry_min, self._retry_delay * 2))
        now = time.monotonic()
        if now - self._last_down_log >= _STILL_DOWN_LOG_SECONDS:
            self._last_down_log = now
            since = self._down_since or now
            log.warning(
                "storage: database unavailable for %.0f s; %d writes kept in memory and in %s",
                now - since,
                len(self._pending),
                self._spool.path,
            )
        return stopping

    def _hold(self, items: Sequence[_Item]) -> bool:
        ops = [i for i in items if isinstance(i, WriteOp)]
        self._waiting.extend(i for i in items if isinstance(i, _Barrier))
        try:
            self._spool.append(ops)
        except OSError as exc:
            log.error(
                "storage: cannot spool %d writes to %s (%s); they are kept in memory only and are "
                "lost if this process dies before the database is back; free disk space there",
                len(ops),
                self._spool.path,
                exc,
            )
        if not self._spilled:
            self._pending.extend(ops)
            if len(self._pending) > self._max_in_memory:
                log.warning(
                    "storage: more than %d writes held during the outage; keeping the rest only in %s",
                    self._max_in_memory,
                    self._spool.path,
                )
                self._pending.clear()
                self._spilled = True
        return any(isinstance(i, _Stop) for i in items)

    def _enter_outage(self, exc: BaseException) -> None:
        self._down_since = time.monotonic()
        self._last_down_log = self._down_since
        self._retry_delay = self._retry_min
        log.warning(
            "storage: database unavailable (%s); keeping writes in memory and spooling them to %s until it is back",
            _short(exc),
            self._spool.path,
        )

    def _replay(self) -> bool:
        source: Iterable[WriteOp] = iter(self._spool) if self._spilled else list(self._pending)
        count = 0
        try:
            for batch in _batched(source, self._batch_size):
                self._commit(batch)
                count += len(batch)
        except _Outage:
            return False
        outage = time.monotonic() - (self._down_since or time.monotonic())
        self._pending.clear()
        self._spilled = False
        self._spool.clear()
        self._down_since = None
        if self._from_previous_run:
            log.warning("storage: replayed %d writes spooled by a previous run", count)
        else:
            log.warning("storage: database is back after %.1f s; replayed %d held writes", outage, count)
        self._from_previous_run = False
        for b in self._waiting:
            b.release()
        self._waiting.clear()
        return True

    def _commit(self, ops: Sequence[WriteOp]) -> None:
        if not ops:
            return
        try:
            with self._engine.begin() as conn:
                apply_ops(conn, ops)
            self.committed += len(ops)
            return
        except Exception as exc:
            if is_transient(exc):
                raise _Outage() from exc
        # A write the database refuses must not hold back the others: find it and set it aside.
        for op in ops:
            try:
                with self._engine.begin() as conn:
                    apply_ops(conn, [op])
                self.committed += 1
            except Exception as exc:
                if is_transient(exc):
                    raise _Outage() from exc
                self._reject(op, exc)

    def _reject(self, op: WriteOp, exc: BaseException) -> None:
        self.rejected += 1
        line = json.dumps({"op": json.loads(op.to_json()), "error": _short(exc)})
        try:
            with open(self._rejected_path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
            kept = f"saved to {self._rejected_path}"
        except OSError as err:
            kept = f"could not save it to {self._rejected_path}: {err}"
        log.error("storage: the database refused a %s write (%s); %s", op.kind, _short(exc), kept)


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return f"{type(orig or exc).__name__}: {text[0] if text else ''}"


def _batched(ops: Iterable[WriteOp], size: int) -> Iterator[list[WriteOp]]:
    it = iter(ops)
    while batch := list(itertools.islice(it, size)):
        yield batch
