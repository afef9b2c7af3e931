"""The after-call survey over real SIP: the agent hangs up first, the caller stays with the IVR and rates the call.

The Acme caller presses 0 and reaches Ann (`ivr call --listen`, a pjsua2 process) in the 'support' queue, which asks
for the survey. Ann hangs up a second after answering; the caller hears the question and answers by key or by
speech (FSDD recordings through the product's recognizer). The score is read back from the server's database.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.session.survey import NO_SCORE, QUESTION, REPROMPT, THANKS
from ivr.storage import CallDetail, CallStore
from ivr.storage.csat import CsatStore, TaskRow
from tests.conftest import FSDD, REPO
from tests.e2e.conftest import assert_clean_exit
from tests.e2e.harness import IvrServer, events, finish_call, free_port, start_call, start_server, wait_listening

pytestmark = pytest.mark.e2e

# Key 0 at 1.5 s; "please hold" plays; Ann answers and hangs up 1 s later, at about 6-7 s; the question then plays
# for about 6 s and the caller has [survey] answer_seconds (6) more: an answer at 11 s falls well inside.
ANSWER_AT = 11.0


class Floor:
    """The server, Ann's port, and read access to its database."""

    def __init__(self, srv: IvrServer, ann: int) -> None:
        self.srv, self.ann = srv, ann

    def query(self, fn: Any) -> Any:
        async def run() -> Any:
            store = CallStore(f"sqlite:///{self.srv.root / 'var/ivr.db'}", spool_dir=self.srv.root / "var/t-spool")
            try:
                return await fn(store)
            finally:
                await store.close()

        return asyncio.run(run())

    def call(self, *caller_steps: str, agent_steps: tuple[str, ...] = ("1.0 hangup",)) -> tuple[dict[str, Any], str]:
        """One call through the queue to Ann; returns the caller's timeline and the call id."""
        ann = start_call("", *agent_steps, extra=("--listen", "--port", str(self.ann), "--max-seconds", "40"))
        wait_listening(ann)
        caller = start_call(self.srv.uri, "1.5 dtmf 0", *caller_steps, max_seconds=40)
        a, c = finish_call(ann), finish_call(caller)
        assert a["answered"] and c["answered"], (a, c)
        return c, a["headers"]["X-IVR-Call-ID"]

    def detail(self, call_id: str) -> CallDetail:
        deadline = time.monotonic() + 10
        while True:
            d = self.query(lambda s: s.call_detail(call_id))
            if (d is not None and d.ended_at is not None) or time.monotonic() > deadline:
                assert d is not None, f"call {call_id} not stored"
                return d  # type: ignore[no-any-return]
            time.sleep(0.2)

    def survey(self, call_id: str) -> dict[str, Any] | None:
        return self.query(lambda s: CsatStore(s).call_survey(call_id))  # type: ignore[no-any-return]

    def log_of(self, call_id: str) -> str:
        """The server's log lines about one call (to explain a failure)."""
        return "\n".join(line for line in self.srv.log().splitlines() if call_id in line)

    def tasks(self) -> list[TaskRow]:
        return self.query(lambda s: CsatStore(s).tasks())  # type: ignore[no-any-return]


def _start(factory: pytest.TempPathFactory, config: pytest.Config, *, queue_survey: bool, flow: Path) -> Floor:
    ann = free_port()
    # Prompts are kept between runs (as tests/web does): a cold start synthesizes the whole hotline first, which
    # on a loaded 2-core machine can outlast the harness's start-up limit.
    cache = getattr(config, "cache", None)
    prompts = cache.mkdir("ivr-survey-prompts") if cache is not None else factory.mktemp("prompts")
    toml = f"""
[[queues]]
name = "support"
ring_timeout = 4
wrap_up = 0.5
overflow = ""
survey = {"true" if queue_survey else "false"}

[[agents]]
id = "ann"
name = "Ann"
sip_uri = "sip:ann@127.0.0.1:{ann}"
queues = ["support"]
"""
    env = {"IVR_FLOWS__DEFAULT": str(flow), "IVR_TTS__CACHE_DIR": str(prompts)}
    return Floor(start_server(factory.mktemp("survey"), env=env, extra_toml=toml), ann)


@pytest.fixture(scope="module")
def floor(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Floor]:
    """The Acme hotline; its 'support' queue asks for the survey."""
    f = _start(tmp_path_factory, pytestconfig, queue_survey=True, flow=REPO / "flows/acme_retail.yaml")
    yield f
    assert_clean_exit(f.srv)


def _said(d: CallDetail) -> list[tuple[str, str]]:
    return [(t.speaker, t.text) for t in d.turns]


def test_the_caller_keys_2_after_the_agent_hangs_up_and_a_follow_up_task_opens(floor: Floor) -> None:
    since = datetime.now(UTC)
    c, call_id = floor.call(f"{ANSWER_AT} dtmf 2")
    assert c["ended_by"] == "remote"  # the IVR ended the call after thanking the caller
    # the menu's prompt (cut by the key) ran into "please hold"; the next sound the caller heard is the question
    assert [e for e in events(c, "prompt_start") if 3.0 < e["t"] < ANSWER_AT], c["events"]
    d = floor.detail(call_id)
    said = _said(d)
    assert ("ivr", QUESTION) in said and ("caller", "[keys] 2") in said and ("ivr", THANKS) in said
    assert said.index(("ivr", QUESTION)) < said.index(("caller", "[keys] 2")) < said.index(("ivr", THANKS))
    assert (d.agent_id, d.queue, d.status) == ("ann", "support", "transferred")
    survey = floor.survey(call_id)
    assert survey is not None
    assert (survey["score"], survey["method"], survey["agent_id"], survey["queue"]) == (2, "dtmf", "ann", "support")
    (task,) = [t for t in floor.tasks() if t.call_id == call_id]
    assert (task.status, task.score, task.agent_id, task.kind) == ("open", 2, "ann", "low_csat")
    assert task.created_at >= since


def test_an_answer_that_is_not_1_to_5_is_asked_again_then_the_call_ends_politely_with_no_score(floor: Floor) -> None:
    c, call_id = floor.call(f"{ANSWER_AT} dtmf 7", "+4 dtmf 9")
    assert c["ended_by"] == "remote"
    said = _said(floor.detail(call_id))
    assert [t for t in said if t[0] == "ivr"][-3:] == [("ivr", QUESTION), ("ivr", REPROMPT), ("ivr", NO_SCORE)]
    assert ("caller", "[keys] 7") in said and ("caller", "[keys] 9") in said
    survey = floor.survey(call_id)
    assert survey is not None and (survey["score"], survey["outcome"]) == (None, "invalid")
    assert not [t for t in floor.tasks() if t.call_id == call_id]


def test_the_caller_says_four(floor: Floor) -> None:
    c, call_id = floor.call(f"{ANSWER_AT} play {FSDD / '4_george_0.wav'}")
    assert c["ended_by"] == "remote"
    survey = floor.survey(call_id)
    assert survey is not None, floor.log_of(call_id)
    assert (survey["score"], survey["method"], survey["outcome"]) == (4, "speech", "answered"), floor.log_of(call_id)
    said = _said(floor.detail(call_id))
    assert ("ivr", THANKS) in said
    assert not [t for t in floor.tasks() if t.call_id == call_id]  # 4 is above the follow-up level


def test_no_survey_when_the_caller_hangs_up_first(floor: Floor) -> None:
    c, call_id = floor.call("9 hangup", agent_steps=("20 hangup",))
    assert events(c, "hangup_sent")
    d = floor.detail(call_id)
    assert ("ivr", QUESTION) not in _said(d)
    assert floor.survey(call_id) is None


def test_a_caller_who_hangs_up_during_the_question_is_stored_without_a_score(floor: Floor) -> None:
    c, call_id = floor.call(f"{ANSWER_AT - 1} hangup")
    assert events(c, "hangup_sent")
    assert ("ivr", QUESTION) in _said(floor.detail(call_id))
    deadline = time.monotonic() + 10
    while (survey := floor.survey(call_id)) is None and time.monotonic() < deadline:
        time.sleep(0.2)  # stored by its own task once the cancelled survey has unwound
    assert survey is not None and (survey["score"], survey["outcome"]) == (None, "hung_up")


def test_metrics_count_the_surveys(floor: Floor) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{floor.srv.web_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    counts = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("ivr_survey")}
    assert counts["ivr_surveys_offered_total"] >= 3  # the tests above: 2, 7-then-9, four
    assert counts["ivr_surveys_answered_total"] >= 2
    assert counts['ivr_survey_score_bucket{le="2"}'] >= 1


def test_a_flow_asks_for_the_survey_when_its_queue_does_not(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> None:
    flows = tmp_path_factory.mktemp("flows")
    text = (REPO / "flows/acme_retail.yaml").read_text()
    (flows / "acme_retail.yaml").write_text(text.replace("\nstart: greeting\n", "\nstart: greeting\nsurvey: true\n", 1))
    shutil.copy(REPO / "flows/acme_faq.yaml", flows / "acme_faq.yaml")  # its knowledge base, beside it
    f = _start(tmp_path_factory, pytestconfig, queue_survey=False, flow=flows / "acme_retail.yaml")
    try:
        c, call_id = f.call(f"{ANSWER_AT} dtmf 5")
        survey = f.survey(call_id)
        assert survey is not None, f.log_of(call_id)
        assert (survey["score"], survey["method"], survey["agent_id"]) == (5, "dtmf", "ann")
        assert not [t for t in f.tasks() if t.call_id == call_id]  # 5 opens no follow-up
        assert c["ended_by"] == "remote"
    finally:
        assert_clean_exit(f.srv)
