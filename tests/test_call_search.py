"""QA call search, a call's review data, retention and erasure on real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from ivr.storage import CallStore, call_search, create_db_engine
from ivr.storage.call_search import CallFilter, number_of
from tests import pg

db_url = pg.db_url
pg_server = pg.pg_server

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> float:
    return (T0 + timedelta(minutes=minutes)).timestamp()


@pytest.fixture
async def store(db_url: str, tmp_path: Path) -> AsyncIterator[CallStore]:
    s = CallStore(db_url, spool_dir=tmp_path / "spool", node="node-a")
    await s.start()
    _seed(s)
    assert await s.flush(10)
    yield s
    await s.close()


def _call(s: CallStore, cid: str, minute: float, seconds: float, status: str, *, caller: str, flow_version: int = 1,
          queue: str = "", agent: str = "", said: str = "", intent: str = "") -> None:  # fmt: skip
    s.call_started(cid, caller=caller, flow_name="acme_retail", flow_version=flow_version, at=at(minute))
    s.call_answered(cid, at=at(minute) + 1)
    if queue or agent:
        s.call_updated(cid, queue=queue, agent_id=agent)
    if said:
        uid = s.add_turn(cid, "caller", said, confidence=0.9, start=2.0, end=4.0, intent=intent, intent_score=0.8)
        if intent:
            s.add_intent(cid, intent, 0.8, turn_uid=uid, step="menu", slots={"order_number": "4711"})
    s.add_turn(cid, "ivr", "Thanks for calling Acme", start=0.0)
    s.call_ended(cid, status, at=at(minute) + seconds)


def _seed(s: CallStore) -> None:
    _call(s, "bot", 0, 30, "completed", caller='"Ann" <sip:+8613800001111@10.0.0.1>', said="where is my order",
          intent="order_status")  # fmt: skip
    _call(s, "agent", 10, 300, "completed", caller="<sip:2002@10.0.0.1>", queue="billing", agent="a1",
          said="I want a refund for my headphones", intent="refund", flow_version=2)  # fmt: skip
    _call(s, "xfer", 20, 90, "transferred", caller="<sip:3003@10.0.0.1>", queue="sales", said="talk to a human",
          intent="agent")  # fmt: skip
    _call(s, "gone", 30, 120, "abandoned", caller="<sip:+8613800001111@10.0.0.1>", queue="billing",
          said="refund please", intent="refund")  # fmt: skip
    _call(s, "vm", 40, 60, "voicemail", caller="<sip:4004@10.0.0.1>", said="100% sure_thing it's broken")
    _call(s, "cut", 50, 45, "interrupted", caller="<sip:5005@10.0.0.1>")


async def _ids(s: CallStore, **kw: object) -> list[str]:
    page = await s.qa.search_calls(CallFilter(**kw), limit=50, offset=0)  # type: ignore[arg-type]
    assert page.total == len(page.rows)
    return [r.call_id for r in page.rows]


async def test_outcome_and_duration_come_from_the_call_row(store: CallStore) -> None:
    page = await store.qa.search_calls(CallFilter(sort="started_at", descending=False), limit=50, offset=0)
    got = {r.call_id: (r.outcome, r.duration_seconds) for r in page.rows}
    assert got == {"bot": ("contained", 30.0), "agent": ("transferred", 300.0), "xfer": ("transferred", 90.0),
                   "gone": ("abandoned", 120.0), "vm": ("voicemail", 60.0), "cut": ("interrupted", 45.0)}  # fmt: skip
    assert [r.call_id for r in page.rows] == ["bot", "agent", "xfer", "gone", "vm", "cut"]
    assert page.rows[0].intents == ["order_status"] and page.rows[0].started_at == T0


async def test_each_filter(store: CallStore) -> None:
    assert await _ids(store, outcome="contained") == ["bot"]
    assert sorted(await _ids(store, outcome="transferred")) == ["agent", "xfer"]
    assert await _ids(store, outcome="abandoned") == ["gone"]
    assert await _ids(store, outcome="voicemail") == ["vm"]
    assert await _ids(store, outcome="interrupted") == ["cut"]
    assert await _ids(store, since=T0 + timedelta(minutes=15), until=T0 + timedelta(minutes=35)) == ["gone", "xfer"]
    assert await _ids(store, caller="+86138") == ["gone", "bot"]
    assert await _ids(store, intent="refund") == ["gone", "agent"]
    assert await _ids(store, queue="billing") == ["gone", "agent"]
    assert await _ids(store, agent="a1") == ["agent"]
    assert await _ids(store, flow="acme_retail", flow_version=2) == ["agent"]
    assert await _ids(store, min_duration=60, max_duration=120) == ["vm", "gone", "xfer"]
    assert await _ids(store, text="refund") == ["gone", "agent"]
    assert await _ids(store, text="headph*") == ["agent"]
    assert await _ids(store, text="refund", queue="billing", outcome="abandoned") == ["gone"]
    assert await _ids(store, only_agents=("a1",)) == ["agent"]
    assert await _ids(store, only_agents=()) == []


async def test_sorting_paging_and_snippets(store: CallStore) -> None:
    by_length = await store.qa.search_calls(CallFilter(sort="duration"), limit=2, offset=0)
    assert [r.call_id for r in by_length.rows] == ["agent", "gone"] and by_length.total == 6
    second = await store.qa.search_calls(CallFilter(sort="duration"), limit=2, offset=2)
    assert [r.call_id for r in second.rows] == ["xfer", "vm"]
    asc = await store.qa.search_calls(CallFilter(sort="caller", descending=False), limit=1, offset=0)
    assert asc.rows[0].call_id == "bot"  # '"Ann" ...' sorts before '<sip:...'
    hit = await store.qa.search_calls(CallFilter(text="refund"), limit=5, offset=0)
    assert [r.snippet for r in hit.rows] == ["refund please", "I want a refund for my headphones"]
    assert (await store.qa.search_calls(CallFilter(sort="no such column; DROP TABLE calls"), limit=1, offset=0)).rows


@pytest.mark.parametrize(
    "field,value",
    [("caller", "%"), ("caller", "_"), ("caller", "' OR '1'='1"), ("caller", "\\"), ("text", "'; DROP TABLE calls; --"),
     ("text", '"NEAR( AND ^'), ("text", "*"), ("text", "refund OR 1=1"), ("text", "a:b & !c | d"),
     ("queue", "billing' OR 'x'='x"), ("intent", "refund' --")],
)  # fmt: skip
async def test_sql_metacharacters_are_plain_text(store: CallStore, db_url: str, field: str, value: str) -> None:
    rows = await _ids(store, **{field: value})
    if value == "*":  # no word at all: the same as no text filter, not an error
        assert len(rows) == 6
    else:  # nothing holds these strings literally: no wildcard and no injected condition matched
        assert rows == []
    engine = create_db_engine(db_url)
    try:
        assert {"calls", "turns"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert len(await _ids(store)) == 6


async def test_like_wildcards_match_themselves(store: CallStore) -> None:
    assert await _ids(store, text="100") == ["vm"]
    store.call_started("pct", caller="<sip:50%_off@10.0.0.1>", at=at(60))
    assert await store.flush(10)
    assert await _ids(store, caller="%_") == ["pct"]


async def test_the_review_of_a_call_and_its_inputs(store: CallStore) -> None:
    ended = at(10) + 300
    store.add_queue_event("agent_state", agent_id="a1", detail="wrap_up", at=ended + 0.5)
    store.add_queue_event("agent_state", agent_id="a1", detail="available", at=ended + 12.5)
    assert await store.flush(10)
    review = await store.qa.call_review("agent")
    assert review is not None and review.outcome == "transferred" and review.duration_seconds == 300.0
    assert review.wrap_up is not None and review.wrap_up.seconds == pytest.approx(12.0)
    other = await store.qa.call_review("xfer")
    assert other is not None and other.wrap_up is None  # no agent took it
    assert [t.speaker for t in review.turns] == ["ivr", "caller"]
    assert review.intents[0].slots == {"order_number": "4711"} and review.intents[0].step == "menu"
    assert await store.qa.call_review("nope") is None
    recorded = await store.qa.recorded_call("agent")
    assert [(i.text, i.step) for i in recorded.inputs] == [("I want a refund for my headphones", "menu")]


def test_number_of_a_caller_address() -> None:
    assert number_of('"Ann" <sip:+8613800001111@10.0.0.1:5060;transport=udp>') == "+8613800001111"
    assert number_of("tel:+1-555-0100") == "+15550100"
    assert number_of("2002") == "2002"


async def test_erasure_removes_every_call_of_the_number_and_nothing_else(store: CallStore) -> None:
    store.add_recording("bot", "/rec/bot.wav", duration=30.0, sha256="ab" * 32)
    assert await store.flush(10)
    found = await store.qa.find_caller("+8613800001111")
    assert [c[0] for c in found] == ["bot", "gone"]
    assert await store.qa.find_caller("+861380000111") == []  # part of a number is not the number
    erased = await store.qa.erase_caller("+8613800001111")
    assert (erased.calls, erased.turns, erased.recordings) == (2, 4, ["/rec/bot.wav"])
    assert sorted(await _ids(store)) == ["agent", "cut", "vm", "xfer"]
    assert await _ids(store, text="refund") == ["agent"]  # the full-text index forgot the erased turns
    assert await store.qa.call_review("bot") is None
    assert (await store.qa.erase_caller("+8613800001111")).calls == 0


async def test_retention_settings_and_purges(store: CallStore) -> None:
    defaults = {"audio": 90, "transcripts": None, "slots": None}
    first = await store.qa.retention(defaults)
    assert [(r.kind, r.days, r.stored) for r in first] == [("audio", 90, False), ("transcripts", None, False),
                                                          ("slots", None, False)]  # fmt: skip
    await store.qa.set_retention("transcripts", 30, by="admin")
    await store.qa.set_retention("audio", None, by="admin")
    got = {r.kind: (r.days, r.stored, r.updated_by) for r in await store.qa.retention(defaults)}
    assert got["transcripts"] == (30, True, "admin") and got["audio"] == (None, True, "admin")
    cutoff = T0 + timedelta(minutes=25)  # bot, agent and xfer started before it
    assert await store.qa.purge_slots(cutoff) == 3
    assert await store.qa.purge_transcripts(cutoff) == 6
    assert sorted(await _ids(store, text="refund")) == ["gone"]
    review = await store.qa.call_review("bot")
    assert review is not None and review.turns == [] and review.intents[0].slots == {}
    kept = await store.qa.call_review("gone")
    assert kept is not None and kept.intents[0].slots == {"order_number": "4711"}


async def test_common_words_walk_the_calls_and_find_the_same(store: CallStore, monkeypatch: pytest.MonkeyPatch) -> None:
    rare = {w: await _ids(store, text=w) for w in ("refund", "headph*", "order", "refund please")}
    monkeypatch.setattr(call_search, "COMMON_TURNS", 0)  # every word now counts as common
    assert {w: await _ids(store, text=w) for w in rare} == rare
    assert await _ids(store, text="refund", outcome="abandoned") == ["gone"]


async def test_qa_score_filter_and_sort_use_the_mean_of_the_calls_reviews(store: CallStore) -> None:
    card = await store.qa.create_scorecard("c", description="", definition={"sections": []}, active=True, by="t")
    review: dict[str, Any] = {"revision": 1, "raw_score": None, "failed": False, "passed": None, "answers": [],
                              "comment": ""}  # fmt: skip
    for call_id, reviewer, score in [("bot", "qa1", 90.0), ("bot", "qa2", 70.0), ("agent", "qa1", 60.0),
                                     ("vm", "qa1", 95.0)]:  # fmt: skip
        await store.qa.save_review(call_id, card.id, reviewer=reviewer, score=score, **review)
    assert await _ids(store, min_score=80) == ["vm", "bot"]  # bot: (90 + 70) / 2
    assert await _ids(store, max_score=70) == ["agent"]
    assert await _ids(store, min_score=61, max_score=85) == ["bot"]
    by_score = await store.qa.search_calls(CallFilter(sort="score"), limit=10, offset=0)
    assert [(r.call_id, r.score) for r in by_score.rows[:3]] == [("vm", 95.0), ("bot", 80.0), ("agent", 60.0)]
    assert [r.score for r in by_score.rows[3:]] == [None, None, None]  # unscored calls last
