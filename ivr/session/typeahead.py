"""The call's typeahead buffer: which step a key belongs to, and when (docs/flows.md, "Keys and typeahead").

A key either goes to the turn that is open now (and may barge in on its prompt), waits here until a
step can take it, or is swallowed: the terminator typed right after an entry that was already complete.
"""

from __future__ import annotations

from enum import Enum

from flows import RunState
from ivr.core.events import DtmfDigit, Listen


class KeyRoute(Enum):
    """What to do with one key now."""

    TAKE = "take"  # to the open turn: barge in on an interruptible prompt and feed the runner
    HOLD = "hold"  # kept in the buffer until a turn can take it
    SWALLOW = "swallow"  # the terminator after a complete entry: feed the runner (it forgets it), no barge-in
    DROP = "drop"  # the flow is over (transfer, hangup): no step will ever read it


class Typeahead:
    """Keys typed before a step could take them, in the order they were typed."""

    def __init__(self) -> None:
        self._held: list[DtmfDigit] = []

    def __len__(self) -> int:
        return len(self._held)

    def route(self, key: DtmfDigit, state: RunState | None, turn: Listen | None, interruptible: bool) -> KeyRoute:
        """Decide for a key that just arrived (or is being released); HOLD keeps it here."""
        if state is None or state.done:
            self._held.clear()
            return KeyRoute.DROP
        if not self._held and state.swallows(key.digit):
            return KeyRoute.SWALLOW
        # No turn open (a lookup or HTTP request runs between steps), a prompt that may not be cut off is
        # playing, or earlier keys still wait: the key waits too, so keys reach steps in the order typed.
        if turn is None or not interruptible or self._held:
            self._held.append(key)
            return KeyRoute.HOLD
        return KeyRoute.TAKE

    def release(self, state: RunState | None, turn: Listen | None, interruptible: bool) -> list[DtmfDigit]:
        """The held keys, once a turn is open and nothing uninterruptible plays; route each again."""
        if state is None or state.done:
            self._held.clear()
        if not self._held or turn is None or not interruptible:
            return []
        keys, self._held = self._held, []
        return keys
