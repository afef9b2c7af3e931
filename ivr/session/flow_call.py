"""One call driven by a flow: the runner decides, this carries out its actions on a CallLeg.

Events from the leg (DTMF, playback done, hangup), from speech input (speech started,
final transcripts), from timers and from lookups/HTTP arrive in one queue where urgent
events (hangup, DTMF) jump ahead. Prompts play in order; a Listen opens the caller's turn
and its no-input timer starts when the prompts before it have finished.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from flows import FlowRunner, RunState
from flows import static_prompts as flow_prompts
from flows.state import LISTENING
from ivr.core.errors import CallEndedError, IvrError
from ivr.core.eventqueue import EventQueue
from ivr.core.events import (
    CallAnswered,
    DtmfDigit,
    Event,
    Hangup,
    HangupRequested,
    HttpRequest,
    IntentDetected,
    Listen,
    LookupRequest,
    Play,
    PlaybackDone,
    RecordVoicemail,
    Say,
    SensitiveInput,
    SpeechStarted,
    StepEntered,
    Timeout,
    Transcript,
    TransferRequested,
    VoicemailRecorded,
)
from ivr.core.interfaces import CallLeg
from ivr.core.redact import REDACTED_SPEECH
from ivr.session.customers import identified
from ivr.session.lookups import answer
from ivr.session.overload_call import keypad_listen
from ivr.session.services import CallServices
from ivr.session.typeahead import KeyRoute, Typeahead
from ivr.session.voicemail import record_voicemail

log = logging.getLogger(__name__)

RATE = 16000  # call audio inside the IVR; the worker's conference bridge converts to the codec's rate


class FlowCall:
    """Runs one answered call through a flow until it ends; `run()` returns the final state."""

    def __init__(self, leg: CallLeg, runner: FlowRunner, services: CallServices) -> None:
        self.leg = leg
        self.runner = runner
        self.services = services
        self.inbox = EventQueue()
        self.state: RunState | None = None
        self.listen: Listen | None = None
        self._playing: dict[str, bool] = {}  # playback id -> barge-in allowed, in play order
        self._timer: asyncio.TimerHandle | None = None
        self._after_prompts: list[Callable[[], Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._finished = asyncio.Event()
        self._voicemail_keys: asyncio.Queue[str] | None = None
        self._transferring = False
        self._secret: SensitiveInput | None = None  # a sensitive step is running: mask what the caller gives
        self._pause_after: set[str] | None = None  # prompts queued before it, which the recording keeps
        self._typeahead = Typeahead()
        self._step = ""  # the flow step last journaled as entered
        self._caller_turn = False  # the caller spoke in a speech turn whose transcript has not come yet
        self.customer: dict[str, Any] | None = None  # who the caller is, once a customers lookup found them
        self._diverted: asyncio.Queue[Event] | None = None  # another dialog (the survey) takes the input

    @property
    def call_id(self) -> str:
        """The call's id (the leg's)."""
        return self.leg.call_id

    async def run(self) -> RunState | None:
        """Answer, run the flow, and end the call cleanly whoever ends it."""
        try:
            await self.leg.answer()
            self._journal(CallAnswered(self.call_id, codec=getattr(self.leg, "codec", ""), at=time.monotonic()))
            self._spawn(self._pump_leg_events())
            if self.services.speech is not None:
                self._spawn(self.services.speech.run(self.leg, self.inbox.put, lambda: self.listen))
            self.state, actions = self.runner.start(
                self.call_id, {"caller": _number(self.leg.caller), "callee": _number(self.leg.callee)}
            )
            await self._perform(actions)
            while not self._finished.is_set():
                await self._dispatch(await self.inbox.get())
        except CallEndedError:
            log.info("call %s: caller left while the IVR was acting", self.call_id)
            await self._feed(Hangup(self.call_id, by="caller"))
        except IvrError as exc:
            log.error("call %s failed: %s; hanging up", self.call_id, exc)
        finally:
            self._cancel_timer()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if not _ended(self.leg):
                await self.leg.hangup()
        return self.state

    # --- events in ----------------------------------------------------------------------

    async def _pump_leg_events(self) -> None:
        async for event in self.leg.events():
            if isinstance(event, DtmfDigit | PlaybackDone | Hangup):
                self.inbox.put(event)

    async def _dispatch(self, event: Event) -> None:
        if self.services.journal is not None:
            self.services.journal.event(self, event)
        if self._diverted is not None and not isinstance(event, Hangup):
            self._diverted.put_nowait(event)
            return
        if isinstance(event, Hangup):
            await self._feed(event)
            self._finished.set()
        elif isinstance(event, PlaybackDone):
            if event.playback_id not in self._playing:
                return  # not a flow prompt (hold music, an announcement, a beep): the flow did not wait for it
            self._playing.pop(event.playback_id)
            if self._pause_after is not None:
                self._pause_after.discard(event.playback_id)
                if not self._pause_after:
                    self._pause_now()
            if not self._playing:
                await self._prompts_finished()
            await self._release_keys()
        elif isinstance(event, DtmfDigit):
            self._pause_now()  # keys typed over an earlier prompt already belong to the sensitive step
            log.info("call %s: DTMF %s (%s)", self.call_id, "[redacted]" if self._secret else event.digit, event.method)
            if self._voicemail_keys is not None:
                self._voicemail_keys.put_nowait(event.digit)
                return
            await self._key(event)
        elif isinstance(event, SpeechStarted):
            if self.listen is not None and self.listen.speech:
                self._pause_now()
                await self._barge_in("speech")
                self._cancel_timer()  # the caller is talking: no-input does not apply
                self._caller_turn = True  # ... nor when the prompt they cut off reports its end
        elif isinstance(event, Transcript):
            if event.final:
                self._caller_turn = False  # a slow decode (overload) must not earn the caller a no-input reprompt
            if not event.final or self.listen is None:
                return
            if event.sensitive and self._secret is None:
                # decoded after its sensitive step ended (the caller keyed the answer meanwhile): it is
                # no answer to the step running now, and its words must not reach a log or a record
                log.info("call %s: speech from a finished sensitive step dropped", self.call_id)
                return
            if event.text.strip():
                heard = REDACTED_SPEECH if self._secret or event.sensitive else event.text
                log.info("call %s heard %r (%.2f)", self.call_id, heard, event.confidence)
                await self._feed(event)
            elif not self._playing:
                self._start_timer(self.listen.timeout)  # noise, not words: keep waiting
        elif isinstance(event, Timeout):
            if self.state is not None and event.name == self.state.pending:
                await self._feed(event)
        else:
            await self._feed(event)

    async def _key(self, event: DtmfDigit) -> None:
        """One key, by the typeahead rule: to the open turn, held for a later one, or swallowed."""
        route = self._typeahead.route(event, self.state, self.listen, self._interruptible())
        if route is KeyRoute.SWALLOW:
            log.info("call %s: terminator after a complete entry ignored", self.call_id)
            await self._feed(event)  # the runner drops it too, and stops expecting it
        elif route is KeyRoute.TAKE:
            await self._barge_in("dtmf")
            turn = self.listen
            if turn is not None and turn.dtmf:
                await self._feed(event)
                if self.listen is turn:  # still collecting keys: the gap to the next key is timed
                    self._start_timer(turn.inter_digit_timeout)

    async def _release_keys(self) -> None:
        for key in self._typeahead.release(self.state, self.listen, self._interruptible()):
            await self._key(key)

    async def _feed(self, event: Event) -> None:
        if self.state is None or self.state.done:
            return
        self.state, actions = self.runner.handle(self.state, event)
        await self._perform(actions)

    # --- actions out --------------------------------------------------------------------

    async def _perform(self, actions: list[Event]) -> None:
        step = self.state.step if self.state is not None else ""
        if step != self._step:  # the live floor shows where each call is
            self._step = step
            self._journal(StepEntered(self.call_id, step=step, at=time.monotonic()))
        listen = None
        for action in actions:
            if isinstance(action, Say | Play):
                await self._speak(action)
            elif isinstance(action, Listen):
                listen = action
            elif isinstance(action, IntentDetected):
                log.info("call %s intent %s (%.2f) at %s", self.call_id, action.intent, action.confidence, action.step)
                if self.services.journal is not None:
                    self.services.journal.event(self, action)
            elif isinstance(action, SensitiveInput):
                self._sensitive(action)
            elif isinstance(action, LookupRequest):
                self._spawn(self._lookup(action))
            elif isinstance(action, HttpRequest):
                self._spawn(self._http(action))
            elif isinstance(action, RecordVoicemail):
                self._when_quiet(functools.partial(self._spawn, self._voicemail(action)))
            elif isinstance(action, TransferRequested):
                self._transferring = True  # the call goes on in the transfer, which ends it
                self._when_quiet(functools.partial(self._spawn, self._transfer(action)))
            elif isinstance(action, HangupRequested):
                log.info("call %s: flow ends the call (%s)", self.call_id, action.reason)
                self._when_quiet(lambda: self._spawn(self._hang_up()))
        if listen is not None:
            if self.services.overload is not None and self.state is not None:  # speech saturated: keys instead
                listen, notice = keypad_listen(self.services.overload, self.runner, self.state.step, listen)
                if notice:
                    await self._speak(Say(self.call_id, text=notice, barge_in=listen.barge_in))
            self.listen = listen
            self._cancel_timer()
            if not self._playing:
                self._start_timer(listen.timeout)
        elif self.state is None or self.state.status != LISTENING:
            self.listen = None  # the caller's turn is over (lookup, transfer, hangup ...)
            self._cancel_timer()
        if self._flow_over() and not self._after_prompts and not self._playing:
            self._finished.set()
        await self._release_keys()

    async def _speak(self, action: Say | Play) -> None:
        if isinstance(action, Say):
            pcm = await self.services.voice.say(action.text, RATE)
            log.info("call %s says %r", self.call_id, action.redacted or action.text)
        else:
            from ivr.core.audio import read_wav

            pcm = (await asyncio.to_thread(read_wav, action.path, RATE)).data
        self._journal(action)
        if pcm:
            self._playing[await self.leg.play(pcm, RATE)] = action.barge_in

    def _sensitive(self, action: SensitiveInput) -> None:
        """Start or end a sensitive step: mask the caller's input in logs, pause or resume the recording."""
        # The prompts queued before the step are kept in the recording: the pause waits for them to end,
        # or for the caller's first key or word, whichever comes first. The resume is immediate.
        if action.on:
            self._secret = action
            self._pause_after = set(self._playing)
            if not self._pause_after:
                self._pause_now()
            return
        paused = self._secret is not None and self._pause_after is None
        self._secret = self._pause_after = None
        if paused:
            log.info("call %s: sensitive step %s is over; recording resumed", self.call_id, action.step)
            self._journal(action)

    def _pause_now(self) -> None:
        if self._secret is not None and self._pause_after is not None:
            self._pause_after = None
            log.info("call %s: sensitive step %s; recording paused", self.call_id, self._secret.step)
            self._journal(self._secret)

    def _interruptible(self) -> bool:
        """Nothing plays, or the prompt playing now allows barge-in."""
        return not self._playing or self._playing[next(iter(self._playing))]

    async def _barge_in(self, cause: str) -> None:
        if self._playing and self._interruptible():
            log.info("call %s: barge-in by %s", self.call_id, cause)
            await self.leg.stop_playback()

    async def _prompts_finished(self) -> None:
        if self.listen is not None and not self._caller_turn:
            self._start_timer(self.listen.timeout)
        pending, self._after_prompts = self._after_prompts, []
        for fn in pending:
            fn()
        if self._flow_over() and not pending:
            self._finished.set()

    def _flow_over(self) -> bool:
        return self.state is not None and self.state.done and not self._transferring

    def _when_quiet(self, fn: Callable[[], Any]) -> None:
        """Run `fn` once every queued prompt has played (a goodbye is heard before the BYE)."""
        if self._playing:
            self._after_prompts.append(fn)
        else:
            fn()

    def _start_timer(self, seconds: float) -> None:
        self._cancel_timer()
        if self.state is not None and self.state.pending:
            timeout = Timeout(self.call_id, name=self.state.pending)
            self._timer = asyncio.get_running_loop().call_later(seconds, self.inbox.put, timeout)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _lookup(self, request: LookupRequest) -> None:
        result = await answer(request, self.services.sources)
        self.customer = identified(request, result) or self.customer
        self.inbox.put(result)

    async def _http(self, request: HttpRequest) -> None:
        from flows.http_step import perform

        self.inbox.put(await perform(request))

    async def _voicemail(self, request: RecordVoicemail) -> None:
        self.inbox.put(await self.voicemail(request))

    def collect_keys(self, on: bool = True) -> asyncio.Queue[str]:
        """While on, the caller's keys go to the returned queue, not to the flow (a queued caller's callback offer)."""
        self._voicemail_keys = asyncio.Queue() if on else None
        return self._voicemail_keys or asyncio.Queue()

    async def voicemail(self, request: RecordVoicemail) -> VoicemailRecorded:
        """Record a message now (a flow step, or a queue overflowing to voicemail); keys reach it."""
        self._voicemail_keys = asyncio.Queue()
        try:
            result = await record_voicemail(self.leg, request, self.services.voicemail_dir, self._voicemail_keys)
        finally:
            self._voicemail_keys = None
        return result

    def divert(self, listen: Listen | None) -> asyncio.Queue[Event]:
        """Hand the caller's keys, speech and playback ends to another dialog (the survey); None gives them back."""
        self._diverted = asyncio.Queue() if listen is not None else None
        self.listen = listen  # the speech input opens recognizer turns with the dialog's phrases
        return self._diverted or asyncio.Queue()

    def note(self, event: Event) -> None:
        """Journal an event of this call that the flow did not act out (a survey's prompt or step)."""
        self._journal(event)

    def _journal(self, event: Event) -> None:
        if self.services.journal is not None:
            self.services.journal.event(self, event)

    async def _transfer(self, request: TransferRequested) -> None:
        try:
            if self.services.transfer is None:
                raise IvrError("no agent queues are configured")
            await self.services.transfer.transfer(self, request)
        except IvrError as exc:
            log.error("call %s: transfer to %s failed: %s", self.call_id, request.queue or request.target, exc)
            if not _ended(self.leg):
                await self._say_now("Sorry, we cannot connect you right now. Please call again later. Goodbye.")
        finally:
            if not _ended(self.leg):
                await self.leg.hangup()
            self._finished.set()

    async def _hang_up(self) -> None:
        if not _ended(self.leg):
            await self.leg.hangup()
        self._finished.set()

    async def _say_now(self, text: str) -> None:
        """Speak and wait for the end (used outside the flow, e.g. when a transfer fails)."""
        pcm = await self.services.voice.say(text, RATE)
        playback = await self.leg.play(pcm, RATE)
        wait = getattr(self.leg, "wait_playback", None)
        if wait is not None:
            await wait(playback)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, CallEndedError):
                log.error("call %s: %s failed: %r", self.call_id, task.get_coro(), exc)
                self.inbox.put(Hangup(self.call_id, by="system", reason=str(exc)))


def _ended(leg: CallLeg) -> bool:
    return bool(getattr(leg, "ended", False))


def _number(uri: str) -> str:
    """'"Bob" <sip:+15551234@host>' -> '+15551234'."""
    inner = uri.split("<", 1)[-1].split(">", 1)[0]
    return inner.split(":", 1)[-1].split("@", 1)[0]


def static_prompts(runner: FlowRunner) -> list[str]:
    """Prompt texts with no variables: synthesized when the flow is loaded, never while a caller waits."""
    return flow_prompts(runner.flow, runner.knowledge)  # the knowledge base's answers too
