"""The after-call survey (CSAT): when the agent hangs up first, the IVR asks the caller to rate the call 1 to 5.

A queue (`survey = true`) or a flow (`survey: true`) asks for it; QueueTransfer runs it once the agent's leg has
ended and the caller is still there. The caller answers by key or by voice (the call's recognizer, with the
digit words as its grammar). An answer that is not 1 to 5, or silence, gets one reprompt; a second miss ends the
survey politely with no score. Every survey offered is stored with the call and its agent; a score at or below
`[survey] followup_at_or_below` also opens a follow-up task for supervisors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flows.numbers import digits_in
from ivr.core.config import SurveyConfig
from ivr.core.errors import ConfigError, IvrError
from ivr.core.events import (
    DtmfDigit,
    Event,
    IntentDetected,
    Listen,
    PlaybackDone,
    Say,
    SpeechStarted,
    StepEntered,
    Transcript,
)
from ivr.session.hold import RATE
from ivr.session.services import Voice
from ivr.storage.csat import SCORES, CsatStore, SurveyResult, TaskRow

if TYPE_CHECKING:
    from ivr.session.flow_call import FlowCall

log = logging.getLogger("ivr.survey")

QUESTION = "Before you go, please rate this call from 1 to 5, where 5 is excellent. Press or say a number."
REPROMPT = "Sorry, please press or say a number from 1 to 5."
THANKS = "Thank you for your feedback. Goodbye."
NO_SCORE = "Thank you for calling. Goodbye."
# Every digit word, not just one to five: a caller who says "seven" must be heard as seven (out of range, so
# reprompted), not forced by the grammar into the nearest allowed word.
PHRASES = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "zero")
# Once the caller starts to speak, the survey waits for the recognizer's result rather than for the silence limit:
# on a busy machine a decode can take seconds. This bounds the wait if no result ever comes.
_DECODE_LIMIT_SECONDS = 20.0


@dataclass(frozen=True)
class Answer:
    """What the caller gave: a score 1-5, or None for anything else; `method` is dtmf or speech."""

    score: int | None
    method: str
    heard: str


def read_answer(event: Event) -> Answer | None:
    """The caller's answer in a key or a final transcript (None: not an answer, e.g. noise or a partial)."""
    if isinstance(event, DtmfDigit):
        return Answer(int(event.digit) if event.digit.isdigit() and int(event.digit) in SCORES else None, "dtmf",
                      event.digit)  # fmt: skip
    if isinstance(event, Transcript) and event.final and event.text.strip():
        digits = digits_in(event.text.lower().replace("-", " ").split())
        score = int(digits) if len(digits) == 1 and int(digits) in SCORES else None
        return Answer(score, "speech", event.text)
    return None


class AfterCallSurvey:
    """Asks callers to rate their call and stores the answer; `observers` hear of every result."""

    def __init__(self, voice: Voice, config: SurveyConfig, store: CsatStore | None = None) -> None:
        if not 0 <= config.followup_at_or_below <= 5:
            raise ConfigError(f"[survey] followup_at_or_below = {config.followup_at_or_below}: use 0 (never) to 5")
        if config.answer_seconds <= 0:
            raise ConfigError(f"[survey] answer_seconds = {config.answer_seconds}: use a number of seconds above 0")
        self.voice = voice
        self.config = config
        self.store = store
        self.observers: list[Callable[[SurveyResult, TaskRow | None], None]] = []
        self._writes: set[asyncio.Task[Any]] = set()

    def prompts(self) -> list[str]:
        """Texts callers hear in the survey, to synthesize at start-up."""
        return [QUESTION, REPROMPT, THANKS, NO_SCORE]

    async def run(self, call: FlowCall, *, queue: str, agent_id: str) -> SurveyResult:
        """Ask the caller on `call` to rate the call they had with `agent_id`; store and return the result."""
        offered = datetime.now(UTC)
        flow = call.runner.flow.name
        listen = Listen(call.call_id, timer="survey", timeout=self.config.answer_seconds, phrases=PHRASES)
        outcome, answer = "no_input", None
        log.info("call %s: after-call survey for agent %s (queue %s)", call.call_id, agent_id, queue)
        call.note(StepEntered(call.call_id, step="survey", at=time.monotonic()))
        inbox = call.divert(listen)
        try:
            for question in (QUESTION, REPROMPT):
                answer = await self._ask(call, inbox, question)
                if answer is not None and answer.score is not None:
                    outcome = "answered"
                    break
                outcome = "invalid" if answer is not None else "no_input"
                log.info("call %s: survey answer %r is not 1 to 5", call.call_id, answer.heard if answer else None)
            await self._say(call, THANKS if outcome == "answered" else NO_SCORE, wait=True)
        except asyncio.CancelledError:  # the caller hung up during the survey
            self._save(SurveyResult(call.call_id, agent_id, queue, flow, None, "", "hung_up", offered))
            raise
        finally:
            call.divert(None)
        scored = answer if answer is not None and outcome == "answered" else None
        score, method = (scored.score, scored.method) if scored is not None else (None, "")
        result = SurveyResult(call.call_id, agent_id, queue, flow, score, method, outcome, offered,
                              datetime.now(UTC) if scored else None)  # fmt: skip
        log.info("call %s: survey score %s (%s)", call.call_id, score, outcome)
        await self._store(result)
        return result

    async def _ask(self, call: FlowCall, inbox: asyncio.Queue[Event], text: str) -> Answer | None:
        """Play a question and wait for an answer: a key or a final transcript, or None after the silence."""
        playing: str | None = await self._say(call, text, wait=False)
        deadline: float | None = None  # set once the question has played
        hearing = False  # the caller started to speak: wait for what the recognizer makes of it
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                event = await asyncio.wait_for(inbox.get(), timeout)
            except TimeoutError:
                return None
            if isinstance(event, PlaybackDone) and event.playback_id == playing:
                playing = None
                if not hearing:
                    deadline = time.monotonic() + self.config.answer_seconds
            elif isinstance(event, SpeechStarted):
                await self._barge_in(call, playing)
                hearing, deadline = True, time.monotonic() + _DECODE_LIMIT_SECONDS
            elif isinstance(event, Transcript) and event.final and not event.text.strip():
                hearing = False  # noise, not words: the caller still has the time to answer
                deadline = None if playing is not None else time.monotonic() + self.config.answer_seconds
            elif (answer := read_answer(event)) is not None:
                await self._barge_in(call, playing)
                # the caller's turn in the call's transcript (the journal stores a turn with its intent)
                confidence = event.confidence if isinstance(event, Transcript) else 1.0
                intent = f"survey_score_{answer.score}" if answer.score is not None else ""
                call.note(IntentDetected(call.call_id, step="survey", text=answer.heard, intent=intent,
                                         confidence=confidence, source=answer.method))  # fmt: skip
                return answer

    async def _barge_in(self, call: FlowCall, playing: str | None) -> None:
        if playing is not None:
            await call.leg.stop_playback()

    async def _say(self, call: FlowCall, text: str, *, wait: bool) -> str:
        pcm = await self.voice.say(text, RATE)
        call.note(Say(call.call_id, text=text))
        log.info("call %s says %r", call.call_id, text)
        playback = await call.leg.play(pcm, RATE)
        waiter = getattr(call.leg, "wait_playback", None)
        if wait and waiter is not None:
            await waiter(playback)
        return playback

    async def _store(self, result: SurveyResult) -> None:
        task = None
        if self.store is not None:
            try:
                task = await self.store.record_survey(result, followup_at_or_below=self.config.followup_at_or_below)
            except IvrError as exc:
                log.error("call %s: cannot store the survey score %s: %s", result.call_id, result.score, exc)
        if task is not None:
            log.info("call %s: score %s opens follow-up task %d", result.call_id, result.score, task.id)
        for fn in self.observers:
            fn(result, task)

    def _save(self, result: SurveyResult) -> None:
        """Store a result from a cancelled survey: in its own task, which the cancel does not reach."""
        task = asyncio.create_task(self._store(result))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def aclose(self) -> None:
        """Wait for results still being stored."""
        await asyncio.gather(*self._writes, return_exceptions=True)
