"""The after-call survey: reading answers, the dialog on a FlowCall (in memory), and its storage (SQLite, PostgreSQL).

The survey over real SIP, with a real agent phone and recognizer, is in tests/e2e/test_survey.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows import FlowRunner
from flows.loader import load_flow_text
from flows.model import FlowValidationError
from ivr.core.config import SurveyConfig
from ivr.core.errors import ConfigError
from ivr.core.eventqueue import EventQueue
from ivr.core.events import (
    AudioChunk,
    DtmfDigit,
    Event,
    Hangup,
    PlaybackDone,
    SpeechStarted,
    Transcript,
    TransferRequested,
)
from ivr.session.flow_call import FlowCall
from ivr.session.services import CallServices
from ivr.session.survey import NO_SCORE, QUESTION, REPROMPT, THANKS, AfterCallSurvey, read_answer
from ivr.storage import CallStore
from ivr.storage.csat import CsatStore, SurveyResult, TaskNotFound, TaskRow
from tests import pg

db_url = pg.db_url
pg_server = pg.pg_server

FLOW = """flow: t
start: to_queue
survey: true
steps:
  to_queue:
    kind: transfer
    queue: support
    reason: test
"""


def test_keys_and_words_read_as_scores() -> None:
    def score(event: Event) -> tuple[int | None, str] | None:
        a = read_answer(event)
        return None if a is None else (a.score, a.method)

    assert score(DtmfDigit("c", digit="2")) == (2, "dtmf")
    assert score(DtmfDigit("c", digit="7")) == (None, "dtmf")
    assert score(DtmfDigit("c", digit="#")) == (None, "dtmf")
    assert score(Transcript("c", text="four", final=True)) == (4, "speech")
    assert score(Transcript("c", text="I'd say five", final=True)) == (5, "speech")
    assert score(Transcript("c", text="seven", final=True)) == (None, "speech")
    assert score(Transcript("c", text="one two", final=True)) == (None, "speech")  # two digits: not a score
    assert score(Transcript("c", text="four", final=False)) is None  # a partial is no answer yet
    assert score(Transcript("c", text="  ", final=True)) is None  # noise


def test_a_flow_asks_for_the_survey_with_a_boolean() -> None:
    assert load_flow_text(FLOW).survey is True
    assert load_flow_text(FLOW.replace("survey: true\n", "")).survey is False
    with pytest.raises(FlowValidationError, match="survey"):
        load_flow_text(FLOW.replace("survey: true", "survey: sometimes"))


def test_survey_settings_out_of_range_say_how_to_fix() -> None:
    with pytest.raises(ConfigError, match="followup_at_or_below"):
        AfterCallSurvey(_Voice(), SurveyConfig(followup_at_or_below=6))
    with pytest.raises(ConfigError, match="answer_seconds"):
        AfterCallSurvey(_Voice(), SurveyConfig(answer_seconds=0))


class _Voice:
    async def say(self, text: str, rate: int) -> bytes:
        return text.encode()  # the leg reads the text back from the "audio"


class _Leg:
    """A caller leg in memory: each prompt 'plays' for 20 ms; `answers` react to the nth prompt."""

    def __init__(self, answers: dict[int, Callable[[FlowCall], None]]) -> None:
        self.call_id, self.caller, self.callee = "c1", "sip:555@x", "sip:ivr@x"
        self.ended = False
        self.heard: list[str] = []
        self.answers = answers
        self.call: FlowCall | None = None
        self._events = EventQueue()

    async def answer(self) -> None:
        pass

    async def events(self) -> AsyncIterator[Event]:
        while True:
            event = await self._events.get()
            yield event
            if isinstance(event, Hangup):
                return

    async def play(self, pcm: bytes, rate: int) -> str:
        pb = uuid.uuid4().hex[:8]
        self.heard.append(pcm.decode())
        loop = asyncio.get_running_loop()
        loop.call_later(0.02, self._events.put, PlaybackDone(self.call_id, playback_id=pb))
        react = self.answers.get(len(self.heard))
        if react is not None and self.call is not None:
            loop.call_later(0.005, react, self.call)  # over the prompt: barge-in
        return pb

    async def wait_playback(self, playback_id: str) -> bool:
        await asyncio.sleep(0.02)
        return False

    async def stop_playback(self) -> None:
        pass

    async def hangup(self, reason: str = "") -> None:
        if not self.ended:
            self.ended = True
            self._events.put(Hangup(self.call_id, by="ivr"))

    async def audio(self, rate: int = 16000) -> AsyncIterator[AudioChunk]:
        return
        yield  # pragma: no cover


def _key(digit: str) -> Callable[[FlowCall], None]:
    return lambda call: call.leg._events.put(DtmfDigit(call.call_id, digit=digit))  # type: ignore[attr-defined]


def _say(text: str) -> Callable[[FlowCall], None]:
    return lambda call: call.inbox.put(Transcript(call.call_id, text=text, final=True, confidence=0.9))


class _AgentHungUp:
    """A transfer whose agent has just hung up: the survey runs, as QueueTransfer runs it."""

    def __init__(self, survey: AfterCallSurvey) -> None:
        self.survey = survey
        self.results: list[SurveyResult] = []

    async def transfer(self, call: FlowCall, request: TransferRequested) -> None:
        self.results.append(await self.survey.run(call, queue=request.queue, agent_id="ann"))


async def _survey(tmp_path: Path, answers: dict[int, Callable[[FlowCall], None]]) -> tuple[SurveyResult, list[str]]:
    survey = AfterCallSurvey(_Voice(), SurveyConfig(answer_seconds=0.2))
    seen: list[tuple[SurveyResult, TaskRow | None]] = []
    survey.observers.append(lambda r, t: seen.append((r, t)))
    handler = _AgentHungUp(survey)
    leg = _Leg(answers)
    services = CallServices(voice=_Voice(), sources={}, voicemail_dir=tmp_path, transfer=handler)
    call = FlowCall(leg, FlowRunner(load_flow_text(FLOW)), services)  # type: ignore[arg-type]
    leg.call = call
    await asyncio.wait_for(call.run(), 10)
    assert leg.ended  # the survey is over: the IVR hangs up
    assert [r for r, _ in seen] == handler.results
    return handler.results[0], leg.heard


async def test_a_key_from_1_to_5_is_the_score(tmp_path: Path) -> None:
    result, heard = await _survey(tmp_path, {1: _key("2")})
    assert (result.score, result.method, result.outcome, result.agent_id, result.queue) == (
        2, "dtmf", "answered", "ann", "support")  # fmt: skip
    assert heard == [QUESTION, THANKS]


async def test_a_spoken_number_is_the_score(tmp_path: Path) -> None:
    result, heard = await _survey(tmp_path, {1: _say("four")})
    assert (result.score, result.method, result.outcome) == (4, "speech", "answered")
    assert heard == [QUESTION, THANKS]


async def test_a_slow_decode_is_waited_for(tmp_path: Path) -> None:
    def speak_slowly(call: FlowCall) -> None:  # decoded 0.5 s after the speech starts: past answer_seconds (0.2)
        call.inbox.put(SpeechStarted(call.call_id, at=0.0))
        asyncio.get_running_loop().call_later(0.5, _say("three"), call)

    result, heard = await _survey(tmp_path, {1: speak_slowly})
    assert (result.score, result.method) == (3, "speech")
    assert heard == [QUESTION, THANKS]


async def test_a_wrong_answer_is_asked_again_once_then_the_survey_ends_without_a_score(tmp_path: Path) -> None:
    result, heard = await _survey(tmp_path, {1: _key("7"), 2: _key("9")})
    assert (result.score, result.outcome) == (None, "invalid")
    assert heard == [QUESTION, REPROMPT, NO_SCORE]
    result, heard = await _survey(tmp_path, {1: _key("0"), 2: _key("5")})  # the reprompt's answer counts
    assert (result.score, result.outcome) == (5, "answered")
    assert heard == [QUESTION, REPROMPT, THANKS]


async def test_silence_is_asked_again_once(tmp_path: Path) -> None:
    result, heard = await _survey(tmp_path, {})
    assert (result.score, result.outcome) == (None, "no_input")
    assert heard == [QUESTION, REPROMPT, NO_SCORE]


@pytest.fixture
async def store(db_url: str, tmp_path: Path) -> AsyncIterator[CallStore]:
    s = CallStore(db_url, spool_dir=tmp_path / "spool", node="node-a")
    await s.start()
    yield s
    await s.close()


def _result(call_id: str, agent: str, queue: str, score: int | None) -> SurveyResult:
    now = datetime.now(UTC)
    outcome = "answered" if score else "invalid"
    return SurveyResult(call_id, agent, queue, "acme", score, "dtmf" if score else "", outcome, now,
                        now if score else None)  # fmt: skip


async def test_scores_are_stored_and_low_ones_open_follow_up_tasks(store: CallStore) -> None:
    calls = [("c1", "ann", "support", 2), ("c2", "ann", "support", 5), ("c3", "bob", "support", 1),
             ("c4", "bob", "returns", None), ("c5", "bob", "returns", 4)]  # fmt: skip
    for call_id, *_ in calls:
        store.call_started(call_id, caller=f"sip:{call_id}@x", flow_name="acme")
    assert await store.flush(5)
    csat = CsatStore(store)
    tasks = [await csat.record_survey(_result(*c), followup_at_or_below=2) for c in calls]
    assert [t.call_id if t else None for t in tasks] == ["c1", None, "c3", None, None]
    assert tasks[0] is not None and (tasks[0].score, tasks[0].agent_id, tasks[0].status) == (2, "ann", "open")
    assert tasks[0].caller == "sip:c1@x"
    assert (await csat.call_survey("c4") or {})["outcome"] == "invalid"
    assert await csat.call_survey("nope") is None

    since, until = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1)
    by_agent = {r.group: r for r in await csat.report(since=since, until=until, group="agent", followup_at_or_below=2)}
    assert (by_agent["ann"].offered, by_agent["ann"].answered, by_agent["ann"].mean_score) == (2, 2, 3.5)
    assert (by_agent["bob"].offered, by_agent["bob"].answered, by_agent["bob"].low) == (3, 2, 1)
    assert (by_agent["all"].s1, by_agent["all"].s2, by_agent["all"].s4, by_agent["all"].s5) == (1, 1, 1, 1)
    assert by_agent["all"].csat == 0.5 and by_agent["all"].mean_score == 3.0
    by_queue = {r.group: r for r in await csat.report(since=since, until=until, group="queue", followup_at_or_below=2)}
    assert (by_queue["returns"].offered, by_queue["returns"].answered, by_queue["returns"].csat) == (2, 1, 1.0)

    assert await csat.open_tasks() == 2
    assert tasks[2] is not None
    before, after = await csat.update_task(tasks[2].id, by="sam", assignee="sam")
    assert (before.assignee, after.assignee, after.status) == ("", "sam", "open")
    _, closed = await csat.update_task(tasks[2].id, by="sam", close_note="Called back; order re-sent.")
    assert (closed.status, closed.note, closed.closed_by) == ("closed", "Called back; order re-sent.", "sam")
    assert await csat.open_tasks() == 1
    listed = await csat.tasks()
    assert [t.call_id for t in listed] == ["c1", "c3"]  # open first
    assert [t.call_id for t in await csat.tasks(status="closed")] == ["c3"]
    with pytest.raises(TaskNotFound):
        await csat.task(9999)


def test_the_queue_or_the_flow_asks_for_the_survey(tmp_path: Path) -> None:
    from ivr.core.config import QueueConfig
    from ivr.session.acd import Acd
    from ivr.session.queueing import QueueTransfer

    desk = QueueTransfer(Acd([QueueConfig(name="support", survey=True), QueueConfig(name="sales")], []), _Voice())

    def call(flow: str) -> FlowCall:
        services = CallServices(voice=_Voice(), sources={}, voicemail_dir=tmp_path)
        return FlowCall(_Leg({}), FlowRunner(load_flow_text(flow)), services)  # type: ignore[arg-type]

    without = FLOW.replace("survey: true\n", "")
    assert desk.wants_survey(call(without), "support") is True  # the queue asks
    assert desk.wants_survey(call(without), "sales") is False
    assert desk.wants_survey(call(FLOW), "sales") is True  # the flow asks
    assert desk.wants_survey(call(without), "unknown") is False
