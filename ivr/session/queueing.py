"""QueueTransfer: the TransferHandler that queues a caller for an agent and bridges them together.

One `_QueuedCall` per transfer carries out the ACD's decisions for its caller:
- Enqueued: hold music starts at once (announcements of place and wait interrupt it);
- Offer: dial the agent's `sip_uri` from the caller's worker (B2BUA) with the X-IVR-* headers;
  busy, unreachable or rang out is reported as no answer and the next agent is tried;
- Connected: music stops and the two legs talk until either hangs up; the other is then ended
  and the agent goes to wrap-up;
- the agent hung up first and the queue or flow asks for it: the after-call survey (ivr.session.survey);
- Overflow: voicemail (with the flow call's DTMF keys) or a SIP URI; another queue just waits on;
- the caller hanging up cancels the transfer task (FlowCall does), which counts as abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ivr.core.errors import CallEndedError, IvrError, TelephonyError
from ivr.core.events import RecordVoicemail, TransferRequested
from ivr.core.interfaces import CallLeg
from ivr.queues import Announce, CancelOffer, Connected, Offer, Overflow, QueueError
from ivr.session.acd import Acd
from ivr.session.bridge_speech import BridgeSpeech
from ivr.session.callbacks import CallbackChosen, CallbackDesk
from ivr.session.customers import customer_headers
from ivr.session.flow_call import FlowCall
from ivr.session.hold import RATE, HoldLine, announcement, hold_music, play_to_end
from ivr.session.journal import StoreJournal
from ivr.session.links import TranscriptLinks
from ivr.session.services import Voice
from ivr.session.survey import AfterCallSurvey

if TYPE_CHECKING:
    from ivr.session.desk import AgentDesk

log = logging.getLogger("ivr.acd")

# A dial that fails at once (every phone unreachable, worker out of legs) is reported no sooner
# than this, so a queue cannot spin through its agents hundreds of times a second.
_MIN_ATTEMPT_SECONDS = 0.5
# The ACD's ring timer decides ring-no-answer; the SIP-side timeout is only a backstop.
_RING_BACKSTOP_SECONDS = 2.0
_HANGUP_WAIT_SECONDS = 5.0
DIRECT_RING_SECONDS = 30.0

NO_AGENTS = "Sorry, no agents are available right now."
ALL_BUSY = "Sorry, all our agents are still busy."
LEAVE_MESSAGE = "Please leave a message after the tone, and press the pound key when you are done."
MESSAGE_SAVED = "Thank you. Your message has been recorded. Goodbye."
NO_MESSAGE = "We did not get a message. Please call again later. Goodbye."


class QueueTransfer:
    """TransferHandler backed by the process's Acd: queue, hold, offer, bridge, overflow."""

    def __init__(
        self,
        acd: Acd,
        voice: Voice,
        *,
        links: TranscriptLinks | None = None,
        journal: StoreJournal | None = None,
        music: Mapping[str, bytes] | None = None,
        survey: AfterCallSurvey | None = None,
    ) -> None:
        self.acd = acd
        self.survey = survey  # asked when the queue or the flow wants it and the agent hung up first
        self.voice = voice
        self.links = links
        self.journal = journal
        self.music = dict(music or {})
        self.speech: BridgeSpeech | None = None  # live transcripts of bridged calls ([bridge_speech])
        self.pops: AgentDesk | None = None  # the agents' desks: the screen pop goes there before the phone rings
        self.callbacks: CallbackDesk | None = None  # offers waiting callers a callback ([[queues]] callback_threshold)

    def prompts(self) -> list[str]:
        """Fixed texts callers may hear here, to synthesize at start-up."""
        return [f"{NO_AGENTS} {LEAVE_MESSAGE}", f"{ALL_BUSY} {LEAVE_MESSAGE}", MESSAGE_SAVED, NO_MESSAGE]

    async def transfer(self, call: FlowCall, request: TransferRequested) -> None:
        """Carry out the flow's transfer: to a queue, or straight to a SIP URI."""
        if request.queue:
            stay = _QueuedCall(self, call, request)
            await stay.run()
            if stay.agent_left and self.survey is not None and self.wants_survey(call, stay.queue):
                await self.survey.run(call, queue=stay.queue, agent_id=stay.agent_id)
        elif request.target:
            await self.bridge_direct(call, request.target, self.headers(call, request))
        else:
            raise IvrError(f"call {call.call_id}: the transfer names neither a queue nor a target; fix the flow step")

    def wants_survey(self, call: FlowCall, queue: str) -> bool:
        """True if the queue's settings or the call's flow ask for the after-call survey."""
        settings = self.acd.queues.get(queue)
        return bool(getattr(call.runner.flow, "survey", False) or (settings is not None and settings.survey))

    def headers(self, call: FlowCall, request: TransferRequested) -> dict[str, str]:
        """The INVITE headers that tell the agent who is calling and why, with the transcript link."""
        variables = call.state.variables if call.state is not None else {}
        last = variables.get("last") or {}
        intent = (self.journal.last_intent(call.call_id) if self.journal else "") or last.get("intent", "")
        headers = {
            "X-IVR-Call-ID": call.call_id,
            "X-IVR-Intent": intent or "none",
            "X-IVR-Caller": str(variables.get("caller") or call.leg.caller),
        }
        if self.links is not None:
            headers["X-IVR-Transcript"] = self.links.url(call.call_id)
        if request.queue:
            headers["X-IVR-Queue"] = request.queue
        if request.reason:
            headers["X-IVR-Reason"] = request.reason[:200]
        headers.update(customer_headers(call))  # a known customer: name, id and tier (e.g. vip)
        return {k: " ".join(str(v).split()) for k, v in headers.items()}  # no CR/LF in a SIP header

    def outcome(self, call_id: str, status: str, **fields: str) -> None:
        """Tell the journal how the call is ending (status, hangup_by, queue, agent_id)."""
        if self.journal is not None:
            self.journal.set_outcome(call_id, status, **fields)

    async def say(self, leg: CallLeg, text: str) -> None:
        """Speak to the caller and wait until it has been heard."""
        await play_to_end(leg, await self.voice.say(text, RATE))

    async def bridge_direct(self, call: FlowCall, target: str, headers: Mapping[str, str]) -> None:
        """Bridge the caller to a SIP URI (no queue): music while it rings, talk until either hangs up."""
        hold = HoldLine(call.leg, self.music.get("", hold_music()))
        hold.start()
        try:
            other = await call.leg.bridge(target, headers, timeout=DIRECT_RING_SECONDS)
        except CallEndedError:
            raise
        except TelephonyError as exc:
            raise TelephonyError(f"cannot reach {target}: {exc}; check the transfer target or overflow URI") from exc
        finally:
            await hold.close()
        self.outcome(call.call_id, "transferred")
        await self.talk(call, other)
        self.outcome(call.call_id, "", hangup_by="agent")  # reached only when the far end hung up

    async def talk(self, call: FlowCall, other: CallLeg, agent_id: str = "") -> None:
        """Keep the caller bridged to `other` until either hangs up, transcribing both meanwhile (if configured)."""
        transcript = None
        if self.speech is not None:
            journal = call.services.journal
            transcript = self.speech.start(call.call_id, call.leg, other, agent_id=agent_id,
                                           emit=lambda e: journal.event(call, e) if journal else None)  # fmt: skip
            if self.journal is not None and transcript.done is not None:
                self.journal.hold(call.call_id, transcript.done)  # the last words are decoded after the hangup
        try:
            await _talk(other)
        finally:
            if transcript is not None:
                transcript.stop()


class _QueuedCall:
    """One caller's stay in the ACD, from enqueue to agent, overflow or hang-up."""

    def __init__(self, desk: QueueTransfer, call: FlowCall, request: TransferRequested) -> None:
        self.desk = desk
        self.acd = desk.acd
        self.call = call
        self.leg = call.leg
        self.request = request
        self.hold = HoldLine(call.leg, desk.music.get(request.queue) or hold_music())
        self.dialing: dict[str, asyncio.Task[None]] = {}  # agent id -> dial task
        self.uris: dict[str, str] = {}  # agent id -> the SIP URI dialled
        self.answered: dict[str, CallLeg] = {}  # agent id -> answered leg awaiting Connected
        self.announcing: asyncio.Task[None] | None = None
        self.connected = False
        self.offer: asyncio.Task[None] | None = None  # the callback offer, made at most once
        self.called_back = False  # the caller hung up to be called back: their entry stays queued
        self.queue = request.queue  # the queue the caller is in now (an overflow can move them)
        self.agent_id = ""  # the agent the caller talked to
        self.agent_left = False  # that agent hung up first and the caller is still on the line

    async def run(self) -> None:
        call_id, queue = self.call.call_id, self.request.queue
        caller = str((self.call.state.variables if self.call.state else {}).get("caller", ""))
        log.info("call %s joins queue %s (priority %d)", call_id, queue, self.request.priority)
        try:
            inbox = self.acd.enqueue(
                call_id, queue, priority=self.request.priority, skills=self.request.skills, caller=caller
            )
        except QueueError:
            self.desk.outcome(call_id, "failed")
            raise
        self.desk.outcome(call_id, "", queue=queue)
        self.hold.start()
        try:
            while True:
                decision = await inbox.get()
                if isinstance(decision, CallbackChosen) and self.desk.callbacks is not None:
                    headers = self.desk.headers(self.call, self.request)
                    self.called_back = await self.desk.callbacks.take(self.call, decision.number, headers, self.dialing)
                    if self.called_back:
                        return
                    self.hold.start()
                    continue
                if self.offer is None and self.desk.callbacks is not None and not self.connected:
                    self.offer = self.desk.callbacks.consider(self.call, self.hold, inbox)
                if isinstance(decision, Announce):
                    self._announce(decision)
                elif isinstance(decision, Offer):
                    self.uris[decision.agent.id] = decision.agent.sip_uri
                    self.dialing[decision.agent.id] = asyncio.create_task(self._dial(decision))
                elif isinstance(decision, CancelOffer):
                    await self._withdraw(decision.agent_id, decision.reason)
                elif isinstance(decision, Connected):
                    await self._talk(decision)
                    return
                elif isinstance(decision, Overflow):
                    if decision.target_queue is not None:
                        self.desk.outcome(call_id, "", queue=decision.target_queue)
                        self.queue = decision.target_queue
                        continue
                    await self._overflow(decision)
                    return
        finally:
            await self._leave()

    def _announce(self, d: Announce) -> None:
        if self.announcing is not None and not self.announcing.done():
            return  # still saying the last one
        if self.offer is not None and not self.offer.done():
            return  # the caller is hearing the callback offer

        async def speak() -> None:
            text = announcement(d.position, d.ewt)
            try:
                pcm = await self.desk.voice.say(text, RATE)
            except IvrError as exc:  # the music goes on; the caller misses one announcement
                log.error("call %s: cannot synthesize the queue announcement: %s", self.call.call_id, exc)
                return
            log.info("call %s waiting in %s hears %r", self.call.call_id, d.entry.queue, text)
            await self.hold.say(pcm)

        self.announcing = asyncio.create_task(speak())

    async def _dial(self, offer: Offer) -> None:
        agent, call_id = offer.agent, self.call.call_id
        started = time.monotonic()
        headers = self.desk.headers(self.call, self.request)
        if self.desk.pops is not None:
            try:
                await self.desk.pops.pop(self.call, self.request, offer, headers)
            except Exception:  # the desk is a convenience: the agent's phone rings regardless
                log.exception("call %s: the screen pop for agent %s failed", call_id, agent.id)
        try:
            leg = await self.leg.bridge(agent.sip_uri, headers, timeout=offer.timeout + _RING_BACKSTOP_SECONDS)
        except TelephonyError as exc:
            if self.leg_ended():
                return  # the caller left; the transfer task is being cancelled
            log.warning("call %s: agent %s (%s) did not answer: %s", call_id, agent.id, agent.sip_uri, exc)
            await asyncio.sleep(max(0.0, started + _MIN_ATTEMPT_SECONDS - time.monotonic()))
            self.dialing.pop(agent.id, None)
            self.acd.agent_no_answer(call_id, agent.id)
            return
        self.dialing.pop(agent.id, None)
        self.answered[agent.id] = leg
        self.acd.agent_answered(call_id, agent.id)  # Connected (or CancelOffer if withdrawn) follows

    async def _withdraw(self, agent_id: str, reason: str) -> None:
        task = self.dialing.pop(agent_id, None)
        if task is not None:
            uri = self.uris.get(agent_id, "")
            if reason == "ring timeout":
                log.warning("call %s: agent %s (%s) did not answer in time", self.call.call_id, agent_id, uri)
            else:
                log.info("call %s: offer to agent %s (%s) withdrawn: %s", self.call.call_id, agent_id, uri, reason)
            task.cancel()  # RemoteCallLeg.bridge CANCELs the ringing leg
            await asyncio.gather(task, return_exceptions=True)
        leg = self.answered.pop(agent_id, None)
        if leg is not None:
            await _hang_up(leg)

    async def _talk(self, d: Connected) -> None:
        agent_leg = self.answered.pop(d.agent_id)
        self.connected = True
        if self.offer is not None:
            self.offer.cancel()
        if self.announcing is not None:
            self.announcing.cancel()
        await self.hold.close()
        self.desk.outcome(self.call.call_id, "transferred", agent_id=d.agent_id)
        log.info("call %s connected to agent %s after %.1f s", self.call.call_id, d.agent_id, d.wait)
        self.agent_id = d.agent_id
        await self.desk.talk(self.call, agent_leg, d.agent_id)
        self.desk.outcome(self.call.call_id, "", hangup_by="agent")  # reached only when the agent hung up
        self.agent_left = not self.leg_ended()

    async def _overflow(self, d: Overflow) -> None:
        if self.offer is not None:
            self.offer.cancel()
        await self.hold.close()
        if d.target.startswith("voicemail"):
            box = d.target.partition(":")[2] or d.entry.queue
            sorry = NO_AGENTS if d.reason == "no_agents" else ALL_BUSY
            await self.desk.say(self.leg, f"{sorry} {LEAVE_MESSAGE}")
            request = RecordVoicemail(self.call.call_id, request_id=f"overflow-{d.entry.queue}", mailbox=box)
            result = await self.call.voicemail(request)
            if result.path:
                self.desk.outcome(self.call.call_id, "voicemail")
            await self.desk.say(self.leg, MESSAGE_SAVED if result.path else NO_MESSAGE)
        else:
            await self.desk.bridge_direct(self.call, d.target, self.desk.headers(self.call, self.request))

    async def _leave(self) -> None:
        """However the stay ended: stop ringing phones, free the agent, tell the ACD."""
        call_id = self.call.call_id
        if self.announcing is not None:
            self.announcing.cancel()
        if self.offer is not None:
            self.offer.cancel()
        for task in list(self.dialing.values()):
            task.cancel()
        await asyncio.gather(*self.dialing.values(), return_exceptions=True)
        if self.acd.waiting(call_id) and not self.called_back:
            self.acd.abandon(call_id)
            hangup = getattr(self.leg, "hangup_event", None)
            if hangup is not None and hangup.by == "caller":  # not a shutdown or a dead worker
                self.desk.outcome(call_id, "abandoned")
        if self.connected:
            self.acd.call_ended(call_id)
        for leg in self.answered.values():
            await _hang_up(leg)
        if not self.called_back:  # a callback's decisions go to its own inbox now
            self.acd.leave(call_id)
        if not self.leg_ended():
            await self.hold.close()

    def leg_ended(self) -> bool:
        """True once the caller's leg has hung up."""
        return bool(getattr(self.leg, "ended", False))


async def _talk(other: CallLeg) -> None:
    """Wait until the bridged leg hangs up; if we are cancelled first (the caller left), end it."""
    try:
        async for _ in other.events():
            pass
    finally:
        await _hang_up(other)


async def _hang_up(leg: CallLeg) -> None:
    if not getattr(leg, "ended", False):
        with contextlib.suppress(TelephonyError, TimeoutError):
            await asyncio.wait_for(leg.hangup(), _HANGUP_WAIT_SECONDS)
