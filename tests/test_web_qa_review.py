"""QA review over a real SQLite store: scorecards, scoring a call, the random review queue, corrections that
become intent examples in the flow's draft (checked by the publish gate), the confusion report, and roles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from flows.yaml_source import read_yaml
from ivr.storage import CallStore
from ivr.web.confusion import Verdict, align, confusion, word_errors
from ivr.web.intent_examples import ExampleEditError, add_examples
from ivr.web.scorecard import Answer, ScorecardBody, ScoringError, score_card
from tests.console import Console, console_app

DAY = date(2026, 3, 2)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()

CARD = {
    "name": "Agent quality",
    "description": "How the agent handled the call",
    "pass_mark": 80,
    "sections": [
        {"title": "Opening", "criteria": [
            {"id": "greeting", "label": "Greeted the caller", "type": "yes_no", "weight": 1},
            {"id": "verified", "label": "Verified identity", "type": "yes_no", "weight": 2, "fatal": True},
        ]},
        {"title": "Resolution", "criteria": [
            {"id": "solved", "label": "Solved the problem", "type": "scale", "weight": 3},
            {"id": "upsell", "label": "Offered the loyalty card", "type": "yes_no", "weight": 1, "allow_na": True},
        ]},
    ],
}  # fmt: skip


@pytest.fixture
async def console(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Console]:
    async for c in console_app(tmp_path, aiohttp_client):
        yield c


def seed_call(
    store: CallStore, call_id: str, *, at: float = T0, agent: str = "", queue: str = "", version: int = 1,
    turns: tuple[tuple[str, str, str, float | None], ...] = (), status: str = "completed",
) -> list[str]:  # fmt: skip
    """A finished call of the Acme flow with turns (speaker, text, intent, score); returns the turn uids."""
    store.call_started(call_id, caller="+15551230000", flow_name="acme_retail", flow_version=version, at=at)
    store.call_answered(call_id, at=at + 1)
    if agent or queue:
        store.call_updated(call_id, agent_id=agent, queue=queue)
    uids = [store.add_turn(call_id, speaker, text, intent=intent, intent_score=score, confidence=0.8,
                           start=2.0 + 3 * i, end=4.0 + 3 * i, at=at + 2 + 3 * i)
            for i, (speaker, text, intent, score) in enumerate(turns)]  # fmt: skip
    store.call_ended(call_id, status, hangup_by="caller", at=at + 60)
    return uids


async def _audit(console: Console, action: str) -> list[Any]:
    lines, _ = await console.store.console.list_audit(action=action)
    return lines


# --- scorecards and scoring --------------------------------------------------------------------------------
def _answers(**values: str) -> list[Answer]:
    return [Answer(criterion=k, value=v, comment=f"about {k}") for k, v in values.items()]


def test_score_weights_answers_leaves_out_na_and_a_fatal_no_fails_the_card() -> None:
    card = ScorecardBody.model_validate(CARD)
    # weights 1, 2, 3 (scale 4 -> 0.75), N/A left out: (1 + 2 + 3 * 0.75) / 6
    r = score_card(card, _answers(greeting="yes", verified="yes", solved="4", upsell="na"))
    assert (r.score, r.failed, r.passed) == (87.5, False, True)
    assert [s.score for s in r.sections] == [100.0, 75.0]
    r = score_card(card, _answers(greeting="yes", verified="no", solved="5", upsell="yes"))
    assert (r.score, r.raw_score, r.failed, r.failed_by, r.passed) == (0.0, 71.4, True, ["verified"], False)
    with pytest.raises(ScoringError, match="N/A is not allowed"):
        score_card(card, _answers(greeting="na", verified="yes", solved="3", upsell="yes"))
    with pytest.raises(ScoringError, match="missing: Solved the problem"):
        score_card(card, _answers(greeting="yes", verified="yes", upsell="yes"))
    with pytest.raises(ScoringError, match="answered 1 to 5"):
        score_card(card, _answers(greeting="yes", verified="yes", solved="yes", upsell="yes"))


async def test_supervisors_define_scorecards_qa_reads_them_and_edits_are_locked(console: Console) -> None:
    sup, qa = await console.client("supervisor"), await console.client("qa")
    r = await sup.post("/api/scorecards", CARD)
    assert r.status == 201, await r.text()
    card = await r.json()
    assert card["revision"] == 1 and [c["id"] for c in card["sections"][1]["criteria"]] == ["solved", "upsell"]
    assert (await qa.post("/api/scorecards", {**CARD, "name": "Mine"})).status == 403
    listed = await (await qa.get("/api/scorecards")).json()
    assert [c["name"] for c in listed["scorecards"]] == ["Agent quality"] and listed["can_edit"] is False
    assert (await sup.post("/api/scorecards", CARD)).status == 409  # the name is taken
    twice = {**CARD, "name": "Twice", "sections": [{"title": "A", "criteria": [{"id": "x", "label": "X"},
                                                                             {"id": "x", "label": "Y"}]}]}  # fmt: skip
    r = await sup.post("/api/scorecards", twice)
    assert r.status == 400 and "used twice" in (await r.json())["error"]
    edit = {**CARD, "pass_mark": 70, "revision": 1}
    r = await sup.send("PUT", f"/api/scorecards/{card['id']}", edit)
    assert r.status == 200 and (await r.json())["revision"] == 2
    r = await (await console.client("admin")).send("PUT", f"/api/scorecards/{card['id']}", edit)  # stale
    assert r.status == 409 and "revision 2" in (await r.json())["error"]
    assert [x.target for x in await _audit(console, "scorecard.change")] == ["Agent quality"]


async def test_a_reviewer_scores_a_call_and_the_agent_sees_only_reviews_of_their_own_calls(console: Console) -> None:
    store = console.store
    seed_call(store, "c-agent", agent="agent", queue="support")
    seed_call(store, "c-other", agent="bob", queue="support")
    assert await store.flush(10)
    sup, qa, agent = [await console.client(r) for r in ("supervisor", "qa", "agent")]
    card = await (await sup.post("/api/scorecards", CARD)).json()
    answers = [a.model_dump() for a in _answers(greeting="yes", verified="yes", solved="4", upsell="na")]
    r = await qa.post("/api/calls/c-agent/reviews", {"scorecard_id": card["id"], "answers": answers,
                                                     "comment": "good call"})  # fmt: skip
    assert r.status == 201, await r.text()
    saved = await r.json()
    assert (saved["score"], saved["passed"], saved["agent_id"], saved["reviewer"]) == (87.5, True, "agent", "qa")
    assert saved["answers"][0]["comment"] == "about greeting"
    worse = [{**a, "value": "no"} if a["criterion"] == "greeting" else a for a in answers]
    r = await qa.post("/api/calls/c-agent/reviews", {"scorecard_id": card["id"], "answers": worse})
    assert (await r.json())["score"] == pytest.approx(100 * (2 + 2.25) / 6, abs=0.05)  # replaced, not added
    await sup.post("/api/calls/c-agent/reviews", {"scorecard_id": card["id"], "answers": answers})
    r = await qa.post("/api/calls/c-agent/reviews", {"scorecard_id": card["id"], "answers": answers[:2]})
    assert r.status == 400 and "missing" in (await r.json())["error"]
    assert (await qa.post("/api/calls/nope/reviews", {"scorecard_id": card["id"], "answers": answers})).status == 404

    mine = await (await agent.get("/api/calls/c-agent/reviews")).json()
    assert sorted(x["reviewer"] for x in mine["reviews"]) == ["qa", "supervisor"]
    assert mine["can_score"] is False and mine["scorecards"] == []
    assert (await agent.get("/api/calls/c-other/reviews")).status == 404  # another agent's call: not even there
    assert (await agent.post("/api/calls/c-agent/reviews", {"scorecard_id": card["id"], "answers": answers})
            ).status == 403  # fmt: skip
    assert len(await _audit(console, "review.save")) == 3

    retired = {**CARD, "active": False, "revision": 1}
    await sup.send("PUT", f"/api/scorecards/{card['id']}", retired)
    r = await qa.post("/api/calls/c-other/reviews", {"scorecard_id": card["id"], "answers": answers})
    assert r.status == 409 and "retired" in (await r.json())["error"]


async def test_sampling_draws_a_share_of_each_agents_calls_into_the_review_queue(console: Console) -> None:
    store = console.store
    for i in range(40):
        seed_call(store, f"alice-{i:02d}", at=T0 + 60 * i, agent="alice")
    for i in range(3):
        seed_call(store, f"bob-{i}", at=T0 + 60 * i, agent="bob")
    for i in range(10):
        seed_call(store, f"bot-{i}", at=T0 + 60 * i)
    seed_call(store, "alice-next-day", at=T0 + 86400, agent="alice")
    assert await store.flush(10)
    qa = await console.client("qa")
    r = await qa.post("/api/qa/sample", {"day": DAY.isoformat(), "percent": 5, "seed": 7})
    assert r.status == 201, await r.text()
    added = (await r.json())["added"]
    assert sorted(c.split("-")[0] for c in added) == ["alice", "alice", "bob"]  # ceil(5% of 40) = 2; at least 1
    again = await (await qa.post("/api/qa/sample", {"day": DAY.isoformat(), "percent": 5})).json()
    assert again["added"] == []  # what was sampled counts; nothing is drawn twice
    bots = await (await qa.post("/api/qa/sample", {"day": DAY.isoformat(), "percent": 5,
                                                   "include_bot_calls": True})).json()  # fmt: skip
    assert [c.split("-")[0] for c in bots["added"]] == ["bot"]
    queue = await (await qa.get(f"/api/qa/queue?day={DAY.isoformat()}")).json()
    assert sorted(i["call_id"] for i in queue["items"]) == sorted(added + bots["added"])
    sup = await console.client("supervisor")
    card = await (await sup.post("/api/scorecards", CARD)).json()
    answers = [a.model_dump() for a in _answers(greeting="yes", verified="yes", solved="5", upsell="yes")]
    await qa.post(f"/api/calls/{added[0]}/reviews", {"scorecard_id": card["id"], "answers": answers})
    pending = await (await qa.get("/api/qa/queue")).json()
    done = await (await qa.get("/api/qa/queue?status=done")).json()
    assert added[0] not in [i["call_id"] for i in pending["items"]] and len(pending["items"]) == 3
    assert [(i["call_id"], i["score"]) for i in done["items"]] == [(added[0], 100.0)]
    page = await qa.get("/qa/queue?status=all")
    assert page.status == 200 and added[1] in await page.text()
    assert (await (await console.client("agent")).post("/api/qa/sample", {"day": DAY.isoformat()})).status == 403
    r = await qa.post("/api/qa/sample", {"day": DAY.isoformat(), "percent": 0})
    assert r.status == 400


# --- corrections ---------------------------------------------------------------------------------------------
def test_examples_go_into_the_intents_examples_list_and_nothing_else_changes() -> None:
    source = (Path(__file__).resolve().parent.parent / "flows" / "acme_retail.yaml").read_text()
    edit = add_examples(source, [("returns", "I wanna send it back"), ("returns", "i wanna send it back!"),
                                 ("order_status", "where is my order"), ("no_such", "hello")])  # fmt: skip
    assert edit.added == {"returns": ["I wanna send it back"]}
    assert [(s.intent, s.reason) for s in edit.skipped] == [
        ("returns", "already an example"), ("order_status", "already an example"),
        ("no_such", "the flow has no intent 'no_such' with examples"),
    ]  # fmt: skip
    before, after = read_yaml(source, "a").data, read_yaml(edit.source, "b").data
    assert after["intents"]["returns"]["examples"] == [
        *before["intents"]["returns"]["examples"],
        "I wanna send it back",
    ]
    after["intents"]["returns"]["examples"].pop()
    assert after == before
    added = set(edit.source.splitlines()) - set(source.splitlines())
    assert added == {"      - I wanna send it back"}  # one new line, in the file's own indentation
    with pytest.raises(ExampleEditError, match="does not parse"):
        add_examples("intents: [", [("a", "b")])


def test_confusion_and_word_error_rate_count_what_reviewers_said() -> None:
    assert align("where is my order".split(), "where is the order now".split()) == (1, 0, 1)
    verdicts = [
        Verdict(detected="order_status", meant="order_status", heard="where is my order", said=""),
        Verdict(detected="order_status", meant="returns", heard="i want to turn it", said="I want to return it"),
        Verdict(detected="", meant="returns", heard="send it back", said=""),
        Verdict(detected="returns", meant="returns", heard="return", said=""),
    ]
    per = {c.intent: c for c in confusion(verdicts)}
    assert (per["returns"].meant, per["returns"].recognized, per["returns"].recall) == (3, 1, 0.3333)
    assert [(m.intent, m.count) for m in per["returns"].mistaken_for] == [("order_status", 1), ("(none)", 1)]
    assert per["order_status"].precision == 0.5 and per["order_status"].taken_from[0].intent == "returns"
    wer = word_errors(verdicts)  # only the retyped turn: "turn" for "return" (1 substitution of 5 words)
    assert (wer.turns, wer.reference_words, wer.substitutions, wer.wer) == (1, 5, 1, 0.2)


async def _corrected_calls(console: Console) -> list[str]:
    uids = seed_call(console.store, "c1", agent="agent", turns=(
        ("ivr", "Thanks for calling Acme. How can I help?", "", None),
        ("caller", "where is my order", "order_status", 0.91),
        ("caller", "I wanna sen it back", "order_status", 0.52),
        ("caller", "[keys] 1", "order_status", 1.0),
    ))  # fmt: skip
    uids += seed_call(
        console.store, "c2", at=T0 + 600, turns=(("caller", "who do I talk to about a refund", "", None),)
    )
    assert await console.store.flush(10)
    return uids


async def test_a_correction_sits_beside_the_turn_and_only_reviewers_make_it(console: Console) -> None:
    ivr, right, wrong, keys, missed = await _corrected_calls(console)
    qa = await console.client("qa")
    r = await qa.send("PUT", f"/api/turns/{wrong}/correction", {"intent": "returns", "misrecognized": True,
                                                               "said": "I wanna  send it back"})  # fmt: skip
    assert r.status == 200, await r.text()
    c = await r.json()
    assert (c["verdict"], c["intent"], c["detected"], c["said"], c["heard"]) == (
        "corrected",
        "returns",
        "order_status",
        "I wanna send it back",
        "I wanna sen it back",
    )
    r = await qa.send("PUT", f"/api/turns/{right}/correction", {"intent": "order_status"})
    assert (await r.json())["verdict"] == "confirmed"
    r = await qa.send("PUT", f"/api/turns/{missed}/correction", {"intent": "returns"})
    assert (await r.json())["verdict"] == "corrected"  # the flow understood nothing; the caller meant returns
    r = await qa.send("PUT", f"/api/turns/{ivr}/correction", {"intent": "returns"})
    assert r.status == 400 and "caller's turns" in (await r.json())["error"]
    assert (await qa.send("PUT", "/api/turns/nope/correction", {"intent": "x"})).status == 404
    r = await qa.send("PUT", f"/api/turns/{keys}/correction", {"intent": "returns", "misrecognized": True})
    assert r.status == 400 and "really said" in (await r.json())["error"]
    agent = await console.client("agent")
    assert (await agent.send("PUT", f"/api/turns/{right}/correction", {"intent": "x"})).status == 403
    assert (await agent.get("/api/corrections")).status == 403

    detail = await console.store.call_detail("c1")
    assert detail is not None and [t.text for t in detail.turns][2] == "I wanna sen it back"  # the original stays
    assert detail.turns[2].intent == "order_status"
    on_call = await (await qa.get("/api/calls/c1/corrections")).json()
    assert {x["turn_uid"] for x in on_call["corrections"]} == {right, wrong}
    assert {"order_status", "returns", "store_hours"} <= {i["name"] for i in on_call["intents"]}
    listed = await (await qa.get("/api/corrections?flow=acme_retail")).json()
    assert {x["turn_uid"] for x in listed["corrections"]} == {wrong, missed}  # pending: corrected, not in a draft
    assert listed["can_apply"] is False and listed["flows"] == ["acme_retail"]
    assert len(await _audit(console, "turn.correct")) == 3
    r = await qa.send("DELETE", f"/api/turns/{right}/correction")
    assert r.status == 200 and (await qa.send("DELETE", f"/api/turns/{right}/correction")).status == 404

    report = await (await qa.get("/api/corrections/confusion?flow=acme_retail")).json()
    assert (report["verdicts"], report["confirmed"], report["corrected"]) == (2, 0, 2)
    returns = next(i for i in report["intents"] if i["intent"] == "returns")
    assert (returns["meant"], returns["recognized"]) == (2, 0)
    assert {(m["intent"], m["count"]) for m in returns["mistaken_for"]} == {("order_status", 1), ("(none)", 1)}
    assert report["wer"] == {"turns": 1, "reference_words": 5, "substitutions": 1, "deletions": 0, "insertions": 0,
                             "wer": 0.2}  # fmt: skip
    i, j = report["labels"].index("returns"), report["labels"].index("order_status")
    assert report["matrix"][i][j] == 1


async def test_a_supervisor_adds_corrections_to_the_draft_and_the_publish_gate_checks_it(console: Console) -> None:
    _, _, wrong, keys, missed = await _corrected_calls(console)
    qa, sup = await console.client("qa"), await console.client("supervisor")
    await qa.send("PUT", f"/api/turns/{wrong}/correction", {"intent": "returns", "misrecognized": True,
                                                           "said": "I wanna send it back"})  # fmt: skip
    await qa.send("PUT", f"/api/turns/{missed}/correction", {"intent": "returns"})
    await qa.send("PUT", f"/api/turns/{keys}/correction", {"intent": "returns"})
    body = {"turn_uids": [wrong, missed, keys]}
    assert (await qa.post("/api/flows/acme_retail/corrections/apply", body)).status == 403
    r = await sup.post("/api/flows/acme_retail/corrections/apply", body)
    assert r.status == 200, await r.text()
    applied = await r.json()
    assert applied["added"] == {"returns": ["I wanna send it back", "who do I talk to about a refund"]}
    assert [(s["turn_uid"], s["reason"]) for s in applied["skipped"]] == [(keys, "keyed or masked, not spoken words")]
    assert (applied["draft_revision"], applied["base_version"]) == (1, 1)  # a new draft, from live version 1

    live = await console.store.console.version_source("acme_retail", 1)
    draft = await console.store.console.get_draft("acme_retail")
    assert live is not None and draft is not None and draft.updated_by == "supervisor"
    before, after = read_yaml(live, "live").data, read_yaml(draft.source, "draft").data
    assert after["intents"]["returns"]["examples"][-2:] == ["I wanna send it back", "who do I talk to about a refund"]
    after["intents"]["returns"]["examples"] = after["intents"]["returns"]["examples"][:-2]
    assert after == before  # only the returns examples changed
    listed = await (await sup.get("/api/corrections?flow=acme_retail&status=applied")).json()
    assert {(x["turn_uid"], x["applied_revision"]) for x in listed["corrections"]} == {(wrong, 1), (missed, 1)}
    assert (await _audit(console, "corrections.apply"))[0].detail["added"] == {"returns": 2}

    # someone edits the draft meanwhile: the next correction goes on top of their revision, keeping their change
    edited = draft.source.replace("label: returns", "label: returns and refunds")
    await console.store.console.save_draft("acme_retail", edited, expected_revision=1, by="admin", base_version=1)
    await qa.send("PUT", f"/api/turns/{wrong}/correction", {"intent": "returns", "misrecognized": True,
                                                           "said": "I want to send this back"})  # fmt: skip
    again = await (await sup.post("/api/flows/acme_retail/corrections/apply", {"turn_uids": [wrong]})).json()
    assert again["added"] == {"returns": ["I want to send this back"]} and again["draft_revision"] == 3
    draft = await console.store.console.get_draft("acme_retail")
    assert draft is not None and "label: returns and refunds" in draft.source
    r = await sup.post("/api/flows/acme_retail/corrections/apply", {"turn_uids": [wrong]})
    assert (await r.json())["added"] == {}  # already there

    r = await sup.post("/api/flows/acme_retail/publish", {"draft_revision": 3, "expect_live": 1, "note": "corrections"})
    assert r.status == 200, await r.text()  # validated and its test cases passed
    v2 = await console.store.console.version_source("acme_retail", 2)
    assert v2 is not None and "      - I want to send this back" in v2.splitlines()


async def test_pages_render_for_their_roles(console: Console) -> None:
    await _corrected_calls(console)
    sup = await console.client("supervisor")
    await sup.post("/api/scorecards", CARD)
    for path, text in (("/scorecards", "Agent quality"), ("/qa/queue", "Draw a sample"),
                       ("/corrections", "Confusion"), ("/reports", "Reply latency")):  # fmt: skip
        page = await sup.get(path)
        assert page.status == 200 and text in await page.text(), path
    agent = await console.client("agent")
    assert (await agent.get("/scorecards")).status == 403 and (await agent.get("/corrections")).status == 403
    index = await (await agent.get("/api/reports")).json()
    assert [r["name"] for r in index["reports"]] == ["qa"]


async def test_callers_answers_to_did_you_say_count_in_the_confusion_report(console: Console) -> None:
    asked = "Did you say order status?"
    unsure = seed_call(console.store, "c-no", turns=(
        ("caller", "something about a parcel", "order_status", 0.45), ("ivr", asked, "", None),
        ("caller", "no", "", None), ("ivr", "Sorry, what can I help you with?", "", None),
    ))  # fmt: skip
    seed_call(console.store, "c-yes", at=T0 + 300, turns=(
        ("caller", "the order thing", "order_status", 0.5), ("ivr", asked, "", None),
        ("caller", "yes please", "", None),
    ))  # fmt: skip
    seed_call(console.store, "c-sure", at=T0 + 600, turns=(("caller", "hours", "store_hours", 0.9),
                                                          ("ivr", "We open at nine.", "", None)))  # fmt: skip
    assert await console.store.flush(10)
    qa = await console.client("qa")
    report = await (await qa.get("/api/corrections/confusion?flow=acme_retail")).json()
    assert (report["verdicts"], report["caller_yes"], report["caller_no"]) == (0, 1, 1)
    status = next(i for i in report["intents"] if i["intent"] == "order_status")
    assert (status["detected"], status["recognized"], status["precision"]) == (2, 1, 0.5)
    assert [(m["intent"], m["count"]) for m in status["taken_from"]] == [("(something else)", 1)]
    # a reviewer's verdict on that turn replaces the caller's answer
    await qa.send("PUT", f"/api/turns/{unsure[0]}/correction", {"intent": "returns"})
    report = await (await qa.get("/api/corrections/confusion?flow=acme_retail")).json()
    assert (report["verdicts"], report["caller_yes"], report["caller_no"]) == (1, 1, 0)
    assert "(something else)" not in report["labels"] and "returns" in report["labels"]
