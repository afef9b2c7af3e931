"""A per-call event queue where urgent events (Hangup, DTMF, BargeIn, Cancel) jump ahead."""

from __future__ import annotations

import asyncio
import collections

from ivr.core.events import Event


class EventQueue:
    """FIFO for ordered events; urgent ones go ahead of every ordered event, in their own order."""

    def __init__(self) -> None:
        self._urgent: collections.deque[Event] = collections.deque()
        self._ordered: collections.deque[Event] = collections.deque()
        self._ready = asyncio.Event()

    def put(self, event: Event) -> None:
        """Add an event (never blocks)."""
        (self._urgent if event.urgent else self._ordered).append(event)
        self._ready.set()

    async def get(self) -> Event:
        """Next event, urgent first."""
        while not (self._urgent or self._ordered):
            self._ready.clear()
            await self._ready.wait()
        return self._urgent.popleft() if self._urgent else self._ordered.popleft()

    def get_nowait(self) -> Event | None:
        """Next event or None."""
        if self._urgent:
            return self._urgent.popleft()
        if self._ordered:
            return self._ordered.popleft()
        return None

    def __len__(self) -> int:
        return len(self._urgent) + len(self._ordered)
