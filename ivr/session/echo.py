"""The interim demo call: greet with synthesized speech and read DTMF digits back.

It proves audio flows both ways until the flow engine drives calls. `#` ends the call,
and a caller who stays silent for `idle_seconds` is told goodbye and hung up on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ivr.core.errors import CallEndedError, IvrError
from ivr.core.events import DtmfDigit, Hangup
from ivr.core.interfaces import Synthesizer
from telephony.remote_leg import RemoteCallLeg

log = logging.getLogger(__name__)

RATE = 16000
_SPOKEN = {"*": "star", "#": "pound"}


@dataclass(frozen=True)
class EchoScript:
    """What the demo says."""

    greeting: str
    goodbye: str = "Goodbye."
    idle_seconds: float = 30.0


async def run_echo_call(leg: RemoteCallLeg, tts: Synthesizer, script: EchoScript) -> None:
    """Answer, greet, echo digits as speech, and end the call cleanly whoever hangs up."""
    try:
        await leg.answer()
        greeting = await tts.synthesize(script.greeting, RATE)
        await leg.play(greeting, RATE)
        events = leg.events()
        while True:
            try:
                event = await asyncio.wait_for(anext(events), script.idle_seconds)
            except TimeoutError:
                log.info("call %s idle for %.0f s; hanging up", leg.call_id, script.idle_seconds)
                await _say_and_hang_up(leg, tts, script.goodbye)
                return
            if isinstance(event, Hangup):
                return
            if isinstance(event, DtmfDigit):
                log.info("call %s: DTMF %s (%s)", leg.call_id, event.digit, event.method)
                if event.digit == "#":
                    await leg.stop_playback()
                    await _say_and_hang_up(leg, tts, script.goodbye)
                    return
                # Barge-in by DTMF: cut whatever is playing, then read the digit back.
                await leg.stop_playback()
                await leg.play(
                    await tts.synthesize(f"You pressed {_SPOKEN.get(event.digit, event.digit)}.", RATE), RATE
                )
    except CallEndedError:
        log.info("call %s ended while the IVR was acting", leg.call_id)
    except IvrError as exc:
        log.error("call %s failed: %s", leg.call_id, exc)
        if not leg.ended:
            await leg.hangup()


async def _say_and_hang_up(leg: RemoteCallLeg, tts: Synthesizer, text: str) -> None:
    playback = await leg.play(await tts.synthesize(text, RATE), RATE)
    await leg.wait_playback(playback)
    await leg.hangup()
