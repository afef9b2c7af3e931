"""CallbackDesk: calls back the callers who hung up to keep their place in a queue.

Each accepted callback has one task. It carries out the ACD's decisions for the callback's entry as
`_QueuedCall` does for a live caller, but with no caller leg: an Offer dials the agent as a new call; when the
agent answers (Connected) the caller's number is dialled from the agent leg's worker and bridged to it (through
`[callbacks] route`, else the SIP trunk), the caller hears `[callbacks] announcement`, and the two talk. A caller
who is busy, does not answer or rejects the call ends the attempt: the agent hears so and goes to wrap-up, and the
entry is requeued in its first place after the queue's `callback_interval`, until `callback_attempts` attempts;
then the callback is failed, which the live floor shows as an alert until a supervisor closes it.
Every change of state is stored (ivr.storage.callbacks), so `ivr serve` requeues pending callbacks at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ivr.core.config import CallbacksConfig, TrunkConfig
from ivr.core.errors import CallEndedError, IvrError, TelephonyError
from ivr.core.interfaces import CallLeg
from ivr.queues import Decision, QueueEntry, QueueError
from ivr.queues.callback import callback_target, next_attempt, offers_callback, validate_callbacks
from ivr.session.acd import Acd, QueueEventSink
from ivr.session.callback_attempt import NO_ANSWER_AGENT, CallbackAttempt
from ivr.session.callback_offer import ASK_NUMBER, BAD_NUMBER, KEEP_WAITING, CallbackOffer, accepted_text
from ivr.session.hold import RATE, HoldLine, play_to_end
from ivr.session.journal import StoreJournal
from ivr.session.links import TranscriptLinks
from ivr.session.services import Voice
from ivr.storage.callbacks import CallbackRow, CallbackStore

if TYPE_CHECKING:
    from ivr.session.flow_call import FlowCall

log = logging.getLogger("ivr.callbacks")


@dataclass(frozen=True)
class CallbackChosen(Decision):
    """Not the distributor's: the waiting caller accepted a callback to `number` (put in the call's own inbox)."""

    kind: ClassVar[str] = "callback_chosen"
    number: str


class Dialer(Protocol):
    """Places outbound calls (the Switchboard in production)."""

    async def call_out(
        self,
        target: str,
        headers: Mapping[str, str],
        *,
        timeout: float,
        trunk: bool = False,
        beside: Any = None,
        on_worker: str | None = None,
    ) -> CallLeg: ...


class CallbackWatcher(Protocol):
    """Who is told about callbacks that failed for good, and closed (the live floor)."""

    def callback_failed(self, row: CallbackRow) -> None: ...

    def callback_closed(self, callback_id: str) -> None: ...


def trunk_domain(trunk: TrunkConfig) -> str:
    """Where trunk calls go ('pbx.example.com' from registrar 'sip:pbx.example.com'); '' when there is no trunk."""
    if not trunk.enabled or not trunk.registrar:
        return ""
    return trunk.registrar.split(":", 1)[-1].split(";")[0] if trunk.registrar.startswith("sip") else trunk.registrar


@dataclass
class CallbackState:
    """A callback being served: its stored row and the INVITE headers its agent gets."""

    row: CallbackRow
    entry: QueueEntry
    headers: dict[str, str] = field(default_factory=dict)


class CallbackDesk:
    """Accepted callbacks: their tasks, their stored rows, and the legs they dial."""

    def __init__(
        self,
        acd: Acd,
        voice: Voice,
        cfg: CallbacksConfig,
        *,
        dialer: Dialer | None = None,
        store: CallbackStore | None = None,
        events: QueueEventSink | None = None,
        trunk_domain: str = "",
        watcher: CallbackWatcher | None = None,
        journal: StoreJournal | None = None,
        links: TranscriptLinks | None = None,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        validate_callbacks(list(acd.queues.values()), cfg)
        self.acd, self.voice, self.cfg = acd, voice, cfg
        self.dialer, self.store, self.events, self.watcher = dialer, store, events, watcher
        self.trunk_domain, self.journal, self.links = trunk_domain, journal, links
        self._wall, self._mono = wall, mono
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._undialable: set[str] = set()  # queues whose callbacks cannot be dialled (warned once)

    def prompts(self) -> list[str]:
        """Fixed texts of the offer and the callback, to synthesize at start-up."""
        return [KEEP_WAITING, ASK_NUMBER, BAD_NUMBER, self.cfg.announcement, NO_ANSWER_AGENT]

    @property
    def via_trunk(self) -> bool:
        """True when callers are dialled through the SIP trunk (no [callbacks] route)."""
        return not self.cfg.route

    # --- the offer, on the waiting caller's leg -------------------------------------------

    def consider(self, call: FlowCall, hold: HoldLine, inbox: asyncio.Queue[Decision]) -> asyncio.Task[None] | None:
        """Start the callback offer if the caller's estimated wait is past their queue's threshold (else None)."""
        entry = self._waiting(call.call_id)
        qcfg = self.acd.queues.get(entry.queue) if entry is not None else None
        ewt = self.acd.distributor.ewt(call.call_id)
        if qcfg is None or ewt is None or not offers_callback(ewt, qcfg) or self.dialer is None:
            return None
        if not self.cfg.route and not self.trunk_domain:
            if qcfg.name in self._undialable:
                return None
            self._undialable.add(qcfg.name)
            log.warning("queue %s offers callbacks but they cannot be dialled: set [callbacks] route or enable "
                        "[sip.trunk]", qcfg.name)  # fmt: skip
            return None
        return asyncio.create_task(self._offer(call, hold, inbox, ewt), name=f"callback-offer-{call.call_id}")

    async def _offer(self, call: FlowCall, hold: HoldLine, inbox: asyncio.Queue[Decision], ewt: float) -> None:
        variables = call.state.variables if call.state is not None else {}
        caller_id = str(variables.get("caller") or "")
        log.info("call %s: offered a callback (estimated wait %.0f s, caller ID %r)", call.call_id, ewt, caller_id)
        keys = call.collect_keys()
        number = None
        try:
            await hold.pause()
            offer = CallbackOffer(call.leg, keys, lambda text: self.voice.say(text, RATE), self.cfg, caller_id)
            number = await offer.run(ewt)
        except (IvrError, CallEndedError) as exc:
            log.info("call %s: callback offer ended: %s", call.call_id, exc)
        finally:
            call.collect_keys(False)
        if number is None:
            log.info("call %s: no callback; the caller keeps waiting", call.call_id)
            hold.start()
            return
        inbox.put_nowait(CallbackChosen(number))

    async def take(
        self, call: FlowCall, number: str, headers: Mapping[str, str], dialing: dict[str, asyncio.Task[None]]
    ) -> bool:
        """The caller chose a callback: stop their own offers, keep their place, say goodbye. False: not possible."""
        for task in dialing.values():  # a phone ringing for the live caller stops; the callback is offered anew
            task.cancel()
        await asyncio.gather(*dialing.values(), return_exceptions=True)
        dialing.clear()
        try:
            await self.accept(call.call_id, number, headers)
        except QueueError as exc:  # e.g. an agent answered meanwhile: the caller is connected instead
            log.info("call %s: callback not taken: %s", call.call_id, exc)
            return False
        if self.journal is not None:
            self.journal.set_outcome(call.call_id, "callback")
        await self.say(call.leg, accepted_text(number))
        return True

    # --- life cycle ----------------------------------------------------------------------

    async def accept(self, call_id: str, number: str, headers: Mapping[str, str]) -> None:
        """The waiting caller `call_id` accepted a callback to `number`; they keep their place from now on."""
        callback_target(number, self.cfg, self.trunk_domain)  # QueueError now if it could never be dialled
        inbox = self.acd.hold_for_callback(call_id, number)
        entry = self._waiting(call_id)
        assert entry is not None
        now = datetime.fromtimestamp(self._wall(), UTC)
        waited = max(0.0, self._mono() - entry.enqueued_at)
        qcfg = self.acd.queues[entry.queue]
        row = CallbackRow(uuid.uuid4().hex, call_id, entry.queue, number, entry.caller, entry.priority, entry.skills,
                          "pending", 0, qcfg.callback_attempts, "", "", now - timedelta(seconds=waited), now, None,
                          now, "")  # fmt: skip
        cb = CallbackState(row, entry, {**headers, "X-IVR-Callback": number})
        log.info("call %s: callback %s to %s accepted in queue %s", call_id, row.id, number, entry.queue)
        await self.save(cb, new=True)
        self._start(cb, inbox)

    async def restore(self) -> int:
        """Requeue the callbacks stored as pending (or cut mid-attempt) by the previous run; returns how many."""
        if self.store is None:
            return 0
        try:
            rows = await self.store.rows(("pending", "dialing"))
            for failed in await self.store.rows(("failed",)):
                if self.watcher is not None:
                    self.watcher.callback_failed(failed)  # still to be handled by a supervisor
        except IvrError as exc:
            log.error("callbacks: cannot read pending callbacks (%s); they are requeued at the next start", exc)
            return 0
        clock, wall = self._mono(), self._wall()
        restored = 0
        for row in sorted(rows, key=lambda r: r.enqueued_at):
            waited = wall - row.enqueued_at.timestamp()
            entry = QueueEntry(row.call_id, row.queue, row.priority, row.skills, clock - waited, row.caller, row.number)
            cb = CallbackState(replace(row, state="pending"), entry, self._plain_headers(row))
            delay = max(0.0, row.next_attempt_at.timestamp() - wall) if row.next_attempt_at else 0.0
            self._tasks[row.id] = asyncio.create_task(self._later(cb, delay), name=f"callback-{row.id}")
            restored += 1
        if restored:
            log.info("callbacks: %d pending callback(s) requeued from the previous run", restored)
        return restored

    async def stop(self) -> None:
        """Stop every callback task (their rows stay pending: the next start requeues them)."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()

    # --- one callback --------------------------------------------------------------------

    def _start(self, cb: CallbackState, inbox: asyncio.Queue[Decision]) -> None:
        task = asyncio.create_task(self._serve(cb, inbox), name=f"callback-{cb.row.id}")
        self._tasks[cb.row.id] = task
        task.add_done_callback(lambda t: self._tasks.pop(cb.row.id, None) if self._tasks.get(cb.row.id) is t else None)

    async def _later(self, cb: CallbackState, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            inbox = self.acd.requeue_callback(cb.entry)
        except QueueError as exc:  # e.g. its queue is no longer configured
            cb.row = replace(cb.row, last_result=str(exc)[:255])
            await self._fail(cb)
            return
        await self._serve(cb, inbox)

    async def _serve(self, cb: CallbackState, inbox: asyncio.Queue[Decision]) -> None:
        try:
            while True:
                failure = await CallbackAttempt(self, cb, inbox).run()
                self.acd.leave(cb.entry.call_id, inbox)
                if failure is None:
                    cb.row = replace(cb.row, state="completed", next_attempt_at=None)
                    await self.save(cb)
                    return
                attempts = cb.row.attempts + 1
                cb.row = replace(cb.row, attempts=attempts, last_result=failure[:255])
                qcfg = self.acd.queues[cb.entry.queue]
                if next_attempt(attempts, qcfg, 0.0) is None:
                    await self._fail(cb)
                    return
                at = datetime.fromtimestamp(self._wall() + qcfg.callback_interval, UTC)
                cb.row = replace(cb.row, state="pending", next_attempt_at=at)
                await self.save(cb)
                log.info("callback %s: attempt %d of %d failed (%s); next in %.0f s", cb.row.id, attempts,
                         cb.row.max_attempts, failure, qcfg.callback_interval)  # fmt: skip
                await asyncio.sleep(qcfg.callback_interval)
                inbox = self.acd.requeue_callback(cb.entry)
        except asyncio.CancelledError:
            if self.acd.distributor.position(cb.entry.call_id) is not None:
                self.acd.abandon(cb.entry.call_id)  # shutdown: the row stays pending, the next run requeues it
            raise
        except Exception:
            log.exception("callback %s failed unexpectedly; it stays stored as %s", cb.row.id, cb.row.state)

    async def _fail(self, cb: CallbackState) -> None:
        cb.row = replace(cb.row, state="failed", next_attempt_at=None)
        await self.save(cb)
        log.warning("callback %s to %s (queue %s) failed after %d attempt(s): %s", cb.row.id, cb.row.number,
                    cb.row.queue, cb.row.attempts, cb.row.last_result)  # fmt: skip
        self.event("callback_failed", cb, detail=f"{cb.row.attempts} attempts: {cb.row.last_result}")
        if self.watcher is not None:
            self.watcher.callback_failed(cb.row)

    async def save(self, cb: CallbackState, *, new: bool = False) -> None:
        """Store the callback's state (logged, not raised, when the database cannot take it)."""
        if self.store is None:
            return
        try:
            if new:
                await self.store.add(cb.row)
            else:
                r = cb.row
                await self.store.update(r.id, state=r.state, attempts=r.attempts, last_result=r.last_result,
                                        agent_id=r.agent_id, next_attempt_at=r.next_attempt_at)  # fmt: skip
        except IvrError as exc:  # the callback goes on; only a restart in this state would lose it
            log.error("callback %s: cannot store its state %s: %s", cb.row.id, cb.row.state, exc)

    def event(self, kind: str, cb: CallbackState, *, agent_id: str = "", detail: str = "") -> None:
        """Store a queue event of the callback's call (callback_connected, callback_no_answer, callback_failed)."""
        if self.events is not None:
            self.events.add_queue_event(kind, call_id=cb.entry.call_id, queue=cb.entry.queue, agent_id=agent_id,
                                        detail=detail)  # fmt: skip

    def _waiting(self, call_id: str) -> QueueEntry | None:
        for queue in self.acd.queues:
            for entry in self.acd.distributor.waiting(queue):
                if entry.call_id == call_id:
                    return entry
        return None

    def _plain_headers(self, row: CallbackRow) -> dict[str, str]:
        """The agent's headers after a restart (the flow's intent and reason were not stored)."""
        headers = {"X-IVR-Call-ID": row.call_id, "X-IVR-Intent": "callback", "X-IVR-Caller": row.number,
                   "X-IVR-Queue": row.queue, "X-IVR-Callback": row.number}  # fmt: skip
        if self.links is not None:
            headers["X-IVR-Transcript"] = self.links.url(row.call_id)
        return headers

    async def say(self, leg: CallLeg, text: str) -> None:
        """Speak on a leg and wait until it has been heard (nothing if it hung up)."""
        with contextlib.suppress(CallEndedError, TelephonyError):
            await play_to_end(leg, await self.voice.say(text, RATE))
