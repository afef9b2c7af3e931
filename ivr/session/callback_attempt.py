"""One pass of a callback through its queue: the ACD's offers to agents, then, once one answers, the caller's phone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from ivr.core.errors import CallEndedError, TelephonyError
from ivr.core.interfaces import CallLeg
from ivr.queues import CancelOffer, Connected, Decision, Offer
from ivr.queues.callback import callback_target
from ivr.session.callback_offer import spoken

if TYPE_CHECKING:
    from ivr.session.callbacks import CallbackDesk, CallbackState

log = logging.getLogger("ivr.callbacks")

_MIN_ATTEMPT_SECONDS = 0.5  # as for queued callers: a dial that fails at once is reported no sooner than this
_RING_BACKSTOP_SECONDS = 2.0  # the ACD's ring timer decides ring-no-answer; the SIP-side timeout is a backstop
NO_ANSWER_AGENT = "The customer did not answer. The callback will be tried again later."


class CallbackAttempt:
    """One pass of a callback through its queue: offers to agents, then the caller's phone."""

    def __init__(self, desk: CallbackDesk, cb: CallbackState, inbox: asyncio.Queue[Decision]) -> None:
        self.desk, self.cb, self.inbox = desk, cb, inbox
        self.acd = desk.acd
        self.call_id = cb.entry.call_id
        self.dialing: dict[str, asyncio.Task[None]] = {}
        self.answered: dict[str, CallLeg] = {}

    async def run(self) -> str | None:
        """None when the caller talked to an agent, else why the caller could not be reached."""
        try:
            while True:
                d = await self.inbox.get()
                if isinstance(d, Offer):
                    self.dialing[d.agent.id] = asyncio.create_task(self._dial_agent(d))
                elif isinstance(d, CancelOffer):
                    task = self.dialing.pop(d.agent_id, None)
                    if task is not None:
                        task.cancel()
                        await asyncio.gather(task, return_exceptions=True)
                    if (leg := self.answered.pop(d.agent_id, None)) is not None:
                        await _hang_up(leg)
                elif isinstance(d, Connected):
                    return await self._connect(self.answered.pop(d.agent_id), d.agent_id)
        finally:
            for task in self.dialing.values():
                task.cancel()
            await asyncio.gather(*self.dialing.values(), return_exceptions=True)
            for leg in self.answered.values():
                await _hang_up(leg)

    async def _dial_agent(self, offer: Offer) -> None:
        desk, agent, started = self.desk, offer.agent, time.monotonic()
        assert desk.dialer is not None
        try:
            leg = await desk.dialer.call_out(agent.sip_uri, self.cb.headers, on_worker="w0" if desk.via_trunk else None,
                                             timeout=offer.timeout + _RING_BACKSTOP_SECONDS)  # fmt: skip
        except TelephonyError as exc:
            log.warning("callback %s: agent %s (%s) did not answer: %s", self.cb.row.id, agent.id, agent.sip_uri, exc)
            await asyncio.sleep(max(0.0, started + _MIN_ATTEMPT_SECONDS - time.monotonic()))
            self.dialing.pop(agent.id, None)
            self.acd.agent_no_answer(self.call_id, agent.id)
            return
        self.dialing.pop(agent.id, None)
        self.answered[agent.id] = leg
        self.acd.agent_answered(self.call_id, agent.id)

    async def _connect(self, agent_leg: CallLeg, agent_id: str) -> str | None:
        desk, cb = self.desk, self.cb
        assert desk.dialer is not None
        cb.row = replace(cb.row, state="dialing", agent_id=agent_id)
        await desk.save(cb)
        target = callback_target(cb.row.number, desk.cfg, desk.trunk_domain)
        log.info("callback %s: agent %s answered; calling %s", cb.row.id, agent_id, target)
        intro = asyncio.create_task(desk.say(agent_leg, f"Callback for the {cb.entry.queue} queue. Calling the "
                                                        f"customer at {spoken(cb.row.number)} now."))  # fmt: skip
        try:
            caller_leg = await desk.dialer.call_out(target, {"X-IVR-Call-ID": self.call_id}, beside=agent_leg,
                                                    timeout=desk.cfg.ring_seconds, trunk=desk.via_trunk)  # fmt: skip
        except (TelephonyError, CallEndedError) as exc:
            failure = str(exc).split(": ", 1)[-1].strip() or "no answer"
            log.info("callback %s: the caller at %s was not reached: %s", cb.row.id, target, failure)
            desk.event("callback_no_answer", cb, agent_id=agent_id, detail=failure[:200])
            await intro
            await desk.say(agent_leg, NO_ANSWER_AGENT)
            await _hang_up(agent_leg)
            self.acd.call_ended(self.call_id)
            return failure
        intro.cancel()
        await asyncio.gather(intro, return_exceptions=True)
        with contextlib.suppress(TelephonyError):
            await agent_leg.stop_playback()  # the rest of the intro would talk over the caller
        desk.event("callback_connected", cb, agent_id=agent_id, detail=cb.row.number)
        log.info("callback %s: caller %s answered; bridged to agent %s", cb.row.id, cb.row.number, agent_id)
        try:
            await desk.say(caller_leg, desk.cfg.announcement)
            ends = [asyncio.create_task(_until_ended(leg)) for leg in (agent_leg, caller_leg)]
            try:
                await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in ends:
                    task.cancel()
                await asyncio.gather(*ends, return_exceptions=True)
        finally:
            await _hang_up(caller_leg)
            await _hang_up(agent_leg)
            self.acd.call_ended(self.call_id)
        return None


async def _until_ended(leg: CallLeg) -> None:
    async for _ in leg.events():
        pass


async def _hang_up(leg: CallLeg) -> None:
    if not getattr(leg, "ended", False):
        with contextlib.suppress(TelephonyError, TimeoutError):
            await asyncio.wait_for(leg.hangup(), 5.0)
