"""Failed-login rate limits per user name and per client address (sliding window, in memory)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class LoginThrottle:
    """Counts failures in a window; `retry_after` says how long a key must wait, 0 if it may try."""

    def __init__(
        self, *, per_user: int, per_address: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limits = {"user": per_user, "addr": per_address}
        self._window = window_seconds
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until this user name and address may try again (0: now)."""
        now = self._clock()
        wait = 0.0
        for key in (("user", username.lower()), ("addr", address)):
            times = self._recent(key, now)
            if len(times) >= self._limits[key[0]]:
                wait = max(wait, times[0] + self._window - now)
        return wait

    def failed(self, username: str, address: str) -> None:
        """Count one failed login against both keys."""
        now = self._clock()
        for key in (("user", username.lower()), ("addr", address)):
            self._recent(key, now).append(now)

    def succeeded(self, username: str) -> None:
        """A correct password clears the user's count (the address keeps its count: it may be guessing names)."""
        self._failures.pop(("user", username.lower()), None)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        return times
