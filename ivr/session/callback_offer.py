"""The in-queue callback offer: "press 1 to keep your place and we will call you back", and the number's check.

A queued caller whose estimated wait passes the queue's `callback_threshold` hears the offer once, in place of
the hold music. Pressing 1 accepts; the number is then confirmed: the caller ID is read back ("press 1 if that
is right, 2 to key in another number"), or, when the caller ID is no phone number, keyed in and ended with #.
A keyed-in number that is not one (digits only, [callbacks] min_digits to max_digits) is asked for once more;
a second bad number, or no answer, leaves the caller waiting in the queue as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable

from ivr.core.config import CallbacksConfig
from ivr.core.errors import TelephonyError
from ivr.core.interfaces import CallLeg
from ivr.queues.callback import callback_number
from ivr.session.hold import RATE

log = logging.getLogger("ivr.callbacks")

KEEP_WAITING = "You keep your place in the queue. Please stay on the line."
ASK_NUMBER = "Please key in the number we should call, then press the pound key."
BAD_NUMBER = "Sorry, that is not a valid phone number."
_FIRST_KEY_SECONDS = 6.0  # after a question, how long the caller has to press a key
_NEXT_KEY_SECONDS = 5.0  # between the keys of a number, before it counts as complete


def offer_text(ewt: float) -> str:
    """The offer, with the estimated wait in whole minutes."""
    minutes = max(1, math.ceil(ewt / 60))
    wait = "1 minute" if minutes == 1 else f"{minutes} minutes"
    return (f"Your estimated wait is about {wait}. Press 1 to keep your place in the queue and we will call you "
            "back, or stay on the line to keep waiting.")  # fmt: skip


def confirm_text(number: str) -> str:
    """The caller ID read back digit by digit."""
    return f"We will call you back at {spoken(number)}. Press 1 if that is right, or 2 to key in another number."


def accepted_text(number: str) -> str:
    """What the caller hears before the IVR hangs up."""
    return f"Thank you. We will call you back at {spoken(number)} as soon as an agent is free. Goodbye."


def spoken(number: str) -> str:
    """'+15551234' -> 'plus 1 5 5 5 1 2 3 4', so the synthesizer reads digits, not a large number."""
    return " ".join("plus" if c == "+" else c for c in number)


class CallbackOffer:
    """Runs the offer dialogue on a waiting caller's leg; `run()` returns the number to call back, or None."""

    def __init__(
        self,
        leg: CallLeg,
        keys: asyncio.Queue[str],
        synthesize: Callable[[str], Awaitable[bytes]],
        cfg: CallbacksConfig,
        caller_id: str,
    ) -> None:
        self.leg, self.keys, self.synthesize, self.cfg, self.caller_id = leg, keys, synthesize, cfg, caller_id

    async def run(self, ewt: float) -> str | None:
        """The whole dialogue; the hold music must be paused while it runs."""
        if await self._ask(offer_text(ewt), 1) != "1":
            return None
        number = callback_number(self.caller_id, self.cfg)
        if number is not None:
            answer = await self._ask(confirm_text(number), 1)
            if answer == "1":
                return number
            if answer != "2":
                await self._say(KEEP_WAITING)
                return None
        for attempt in range(2):
            keyed = await self._ask(ASK_NUMBER, self.cfg.max_digits + 1, end="#")
            number = callback_number(keyed, self.cfg)
            if number is not None:
                return number
            log.info("call %s: callback number %r refused (attempt %d)", self.leg.call_id, keyed, attempt + 1)
            await self._say(BAD_NUMBER)
        await self._say(KEEP_WAITING)
        return None

    async def _say(self, text: str) -> None:
        pcm = await self.synthesize(text)
        playback = await self.leg.play(pcm, RATE)
        wait = getattr(self.leg, "wait_playback", None)
        if wait is not None:
            await wait(playback)

    async def _ask(self, text: str, max_keys: int, end: str = "") -> str:
        """Say `text` (a key cuts it short) and collect up to `max_keys` keys, or until `end`; '' if none."""
        while not self.keys.empty():  # keys pressed before the question answer nothing
            self.keys.get_nowait()
        pcm = await self.synthesize(text)
        playback = await self.leg.play(pcm, RATE)
        first = asyncio.create_task(self.keys.get())
        wait = getattr(self.leg, "wait_playback", None)
        played = asyncio.create_task(wait(playback)) if wait is not None else asyncio.create_task(asyncio.sleep(0))
        try:
            await asyncio.wait({first, played}, return_when=asyncio.FIRST_COMPLETED)
            if not first.done():
                await asyncio.wait({first}, timeout=_FIRST_KEY_SECONDS)
            if not first.done():
                return ""
            if not played.done():
                with contextlib.suppress(TelephonyError):
                    await self.leg.stop_playback()  # barge-in: the caller answered over the question
            got = first.result()
        finally:
            first.cancel()
            played.cancel()
        keys = ""
        while got != end:
            keys += got
            if len(keys) >= max_keys:
                break
            try:
                got = await asyncio.wait_for(self.keys.get(), _NEXT_KEY_SECONDS)
            except TimeoutError:
                break
        return keys
