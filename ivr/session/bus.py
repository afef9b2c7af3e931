"""CallBus: the live feed of call events inside the control process (publish and subscribe, in memory).

The session layer publishes small JSON-ready records as calls run: a `kind` from the event vocabulary
(ivr.core.events, ivr.queues decisions), the call it concerns, a sequence number and the wall time it happened.
Publishing never waits. Each subscriber reads from its own bounded buffer; one that falls behind loses its oldest
records and is told how many, so it can ask for a fresh snapshot. A slow browser can never slow a call.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Collection
from typing import Any

Record = dict[str, Any]


class Subscription:
    """One subscriber's bounded buffer of records; read with `next_batch`, end with `close`."""

    def __init__(self, bus: CallBus, maxlen: int, kinds: Collection[str] | None, tag: str) -> None:
        self._bus = bus
        self._buffer: deque[Record] = deque(maxlen=max(1, maxlen))
        self._ready = asyncio.Event()
        self.kinds = frozenset(kinds) if kinds is not None else None
        self.tag = tag
        self.dropped = 0  # records lost to a full buffer since the last `take_dropped`
        self.closed = False

    def put(self, record: Record) -> None:
        """Buffer a record (the bus calls this); a full buffer forgets its oldest one."""
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1
        self._buffer.append(record)
        self._ready.set()

    async def next_batch(self, timeout: float | None = None) -> list[Record]:
        """Every buffered record, waiting up to `timeout` s for one; [] on timeout or once closed."""
        if not self._buffer and not self.closed:
            self._ready.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
            except TimeoutError:
                return []
        batch = list(self._buffer)
        self._buffer.clear()
        return batch

    def take(self) -> list[Record]:
        """Every buffered record, without waiting (a reader that must be current before it answers)."""
        batch = list(self._buffer)
        self._buffer.clear()
        return batch

    def take_dropped(self) -> int:
        """How many records were lost since the last call (0: this subscriber has seen everything)."""
        n, self.dropped = self.dropped, 0
        return n

    def close(self) -> None:
        """Stop receiving; a reader waiting in `next_batch` returns at once."""
        self.closed = True
        self._bus.unsubscribe(self)
        self._ready.set()


class CallBus:
    """Fan-out of live records to subscribers; every method returns at once (call it from the event loop)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._seq = itertools.count(1)
        self._subs: set[Subscription] = set()
        self.seq = 0  # the newest record's number

    def publish(self, kind: str, call_id: str = "", *, at: float | None = None, **fields: Any) -> Record:
        """Number and time-stamp a record (`at`: wall time it happened, default now) and hand it to subscribers."""
        self.seq = next(self._seq)
        record: Record = {"seq": self.seq, "t": round(self._clock() if at is None else at, 6), "kind": kind,
                          "call_id": call_id, **fields}  # fmt: skip
        for sub in self._subs:
            if sub.kinds is None or kind in sub.kinds:
                sub.put(record)
        return record

    def subscribe(self, *, maxlen: int = 2000, kinds: Collection[str] | None = None, tag: str = "") -> Subscription:
        """A new subscriber of every record from now on (or only of `kinds`), keeping at most `maxlen` unread."""
        sub = Subscription(self, maxlen, kinds, tag)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a subscriber (Subscription.close does this)."""
        self._subs.discard(sub)

    def close(self, tag: str | None = None) -> None:
        """Close every subscription (or those tagged `tag`), e.g. the browsers' streams at shutdown."""
        for sub in [s for s in self._subs if tag is None or s.tag == tag]:
            sub.close()

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open."""
        return len(self._subs)
