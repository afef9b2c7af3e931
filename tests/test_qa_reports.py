"""Report figures on real SQLite and PostgreSQL from calls written the way the call path writes them, and the
report API (JSON, CSV, pages, periods, who may read what) over the console app."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ivr.storage import CallStore
from tests import pg
from tests.console import Console, console_app

db_url = pg.db_url
pg_server = pg.pg_server

DAY1 = datetime(2026, 3, 2, tzinfo=UTC)
SINCE, UNTIL = DAY1, DAY1 + timedelta(days=2)


def _t(day: int, hh: int, mm: int, plus: float = 0.0) -> float:
    return (DAY1 + timedelta(days=day, hours=hh, minutes=mm, seconds=plus)).timestamp()


def _call(store: CallStore, call_id: str, at: float, status: str, *, version: int = 1, answered: bool = True,
          queue: str = "", agent: str = "", end: float = 60.0) -> None:  # fmt: skip
    store.call_started(call_id, caller="+15550000000", flow_name="acme_retail", flow_version=version, at=at)
    if answered:
        store.call_answered(call_id, at=at + 1)
    if queue or agent:
        store.call_updated(call_id, queue=queue, agent_id=agent)
    store.call_ended(call_id, status, at=at + end)


async def seed(store: CallStore) -> None:
    """Two days of calls: contained, transferred with wait and wrap-up, abandoned in queue, voicemail, unanswered."""
    c1, c2, c3, c4, c5 = _t(0, 9, 0), _t(0, 9, 30), _t(0, 10, 15), _t(0, 10, 40), _t(0, 11, 0)
    c6, c7 = _t(1, 14, 0), _t(1, 14, 5)
    _call(store, "c1", c1, "completed")
    store.add_turn("c1", "ivr", "How can I help?", at=c1 + 1)
    store.add_turn("c1", "caller", "where is my order", intent="order_status", intent_score=0.9, at=c1 + 3)
    store.add_turn("c1", "ivr", "Your order number?", reply_latency=0.8, at=c1 + 4)
    _call(store, "c2", c2, "completed", queue="support", agent="agent", end=130)
    store.add_queue_event("enqueued", call_id="c2", queue="support", at=c2 + 20)
    store.add_queue_event("answered", call_id="c2", queue="support", agent_id="agent", wait_seconds=10, at=c2 + 30)
    store.add_queue_event("agent_state", agent_id="agent", detail="busy", at=c2 + 30)
    store.add_queue_event("agent_state", agent_id="agent", detail="wrap_up", at=c2 + 130)
    store.add_queue_event("agent_state", agent_id="agent", detail="available", at=c2 + 160)
    _call(store, "c3", c3, "abandoned", queue="support", end=65)
    store.add_queue_event("enqueued", call_id="c3", queue="support", at=c3 + 20)
    store.add_queue_event("abandoned", call_id="c3", queue="support", wait_seconds=45, at=c3 + 65)
    _call(store, "c4", c4, "voicemail")
    _call(store, "c5", c5, "abandoned", answered=False, end=5)
    _call(store, "c6", c6, "completed", version=2, queue="support", agent="bob", end=100)
    store.add_queue_event("enqueued", call_id="c6", queue="support", at=c6 + 10)
    store.add_queue_event("answered", call_id="c6", queue="support", agent_id="bob", wait_seconds=30, at=c6 + 40)
    _call(store, "c7", c7, "completed", version=2)
    store.add_turn("c7", "caller", "I want to send it back", intent="returns", intent_score=0.7, at=c7 + 3)
    store.add_turn("c7", "ivr", "Sure.", reply_latency=1.2, at=c7 + 4)
    store.add_turn("c7", "caller", "uh", at=c7 + 6)
    store.add_turn("c7", "ivr", "Sorry?", reply_latency=2.0, at=c7 + 8)
    assert await store.flush(10)
    card = await store.qa.create_scorecard("Quality", description="", definition={"pass_mark": 80, "sections": []},
                                           active=True, by="sup")  # fmt: skip
    for call_id, reviewer, score, failed in (("c2", "qa", 80.0, False), ("c2", "sup", 90.0, False),
                                             ("c6", "qa", 0.0, True)):  # fmt: skip
        await store.qa.save_review(call_id, card.id, revision=1, reviewer=reviewer, score=score, raw_score=score,
                                   failed=failed, passed=not failed, answers=[], comment="")  # fmt: skip


@pytest.fixture
async def store(db_url: str, tmp_path: Path) -> AsyncIterator[CallStore]:
    s = CallStore(db_url, spool_dir=tmp_path / "spool", node="n1")
    await s.start()
    await seed(s)
    yield s
    await s.close()


def _by(rows: list[Any], key: str) -> dict[str, Any]:
    return {getattr(r, key): r for r in rows}


async def test_volume_and_containment(store: CallStore) -> None:
    by_hour, by_day = await store.qa.report("volume", since=SINCE, until=UNTIL)
    assert len(by_hour) == 24 and {r.period: r.calls for r in by_hour if r.calls} == {"09": 2, "10": 2, "11": 1,
                                                                                     "14": 2}  # fmt: skip
    day1, day2 = by_day
    assert (day1.period, day1.calls, day1.answered, day1.contained, day1.transferred, day1.abandoned) == (
        "2026-03-02", 5, 4, 1, 1, 2)  # fmt: skip
    assert (day2.calls, day2.contained, day2.transferred) == (2, 1, 1)
    rows = _by(await store.qa.report("containment", since=SINCE, until=UNTIL), "day")
    assert (rows["2026-03-02"].handled, rows["2026-03-02"].rate) == (4, 0.25)  # the unanswered call is left out
    assert rows["2026-03-03"].rate == 0.5 and rows["all"].rate == pytest.approx(1 / 3)


async def test_queue_service_level_speed_of_answer_abandons_and_handle_time(store: CallStore) -> None:
    (support,) = await store.qa.report("queues", since=SINCE, until=UNTIL)
    assert (support.queue, support.offered, support.answered, support.abandoned) == ("support", 3, 2, 1)
    assert support.service_level == pytest.approx(1 / 3)  # 10 s is within 20 s, 30 s is not, 1 abandoned
    assert (support.asa, support.abandon_rate) == (20.0, pytest.approx(1 / 3))
    assert (support.avg_talk, support.avg_wrap, support.aht) == (80.0, 15.0, 95.0)  # (100 + 30 wrap-up, 60) s
    daily = _by(await store.qa.report("queues", since=SINCE, until=UNTIL, by_day=True), "day")
    assert (daily["2026-03-02"].service_level, daily["2026-03-03"].service_level) == (0.5, 0.0)
    strict = await store.qa.report("queues", since=SINCE, until=UNTIL, service_level_seconds=5)
    assert strict[0].service_level == 0.0
    agents = _by(await store.qa.report("queues", since=SINCE, until=UNTIL, by_agent=True), "queue")
    assert (agents["agent"].aht, agents["bob"].aht, agents["bob"].answered) == (130.0, 60.0, 1)


async def test_intents_qa_scores_and_latency(store: CallStore) -> None:
    intents = _by(await store.qa.report("intents", since=SINCE, until=UNTIL), "intent")
    assert {k: (v.turns, v.calls) for k, v in intents.items()} == {"order_status": (1, 1), "returns": (1, 1),
                                                                   "(none)": (1, 1)}  # fmt: skip
    assert intents["returns"].mean_score == pytest.approx(0.7) and intents["(none)"].mean_score is None
    agents = _by(await store.qa.report("qa_scores", since=SINCE, until=UNTIL, group="agent"), "group")
    assert (agents["agent"].reviews, agents["agent"].mean_score, agents["agent"].pass_rate) == (2, 85.0, 1.0)
    assert (agents["bob"].mean_score, agents["bob"].failed) == (0.0, 1)
    versions = await store.qa.report("qa_scores", since=SINCE, until=UNTIL, group="flow_version", period="day")
    assert [(r.period, r.group, r.reviews) for r in versions] == [("2026-03-02", "acme_retail v1", 2),
                                                                  ("2026-03-03", "acme_retail v2", 1)]  # fmt: skip
    own = await store.qa.report("qa_scores", since=SINCE, until=UNTIL, group="reviewer", agents=("bob",))
    assert [(r.group, r.reviews) for r in own] == [("qa", 1)]
    latency = _by(await store.qa.report("latency", since=SINCE, until=UNTIL), "day")
    assert (latency["2026-03-02"].replies, latency["2026-03-02"].p50) == (1, 0.8)
    day2 = latency["2026-03-03"]
    assert (day2.replies, day2.mean, day2.p50, day2.p90, day2.max) == (2, pytest.approx(1.6), 1.2, 2.0, 2.0)
    assert (latency["all"].replies, latency["all"].p50) == (3, 1.2)


# --- the report API ------------------------------------------------------------------------------------------
@pytest.fixture
async def console(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Console]:
    async for c in console_app(tmp_path, aiohttp_client):
        await seed(c.store)
        yield c


PERIOD = "since=2026-03-02&until=2026-03-03"


async def test_each_report_is_json_csv_and_a_page(console: Console) -> None:
    sup = await console.client("supervisor")
    for name in ("volume", "containment", "intents", "queues", "agents", "qa", "latency"):
        r = await sup.get(f"/api/reports/{name}?{PERIOD}")
        assert r.status == 200, (name, await r.text())
        assert (await r.json())["since"] == "2026-03-02"
        page = await sup.get(f"/reports/{name}?{PERIOD}")
        assert page.status == 200 and 'id="page-data"' in await page.text()
        csv_r = await sup.get(f"/api/reports/{name}.csv?{PERIOD}")
        assert csv_r.status == 200 and csv_r.headers["Content-Type"].startswith("text/csv")
        assert f"{name}-" in csv_r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await (await sup.get(f"/api/reports/queues.csv?{PERIOD}")).text())))
    assert [(r["queue"], r["offered"], r["service_level"], r["aht"]) for r in rows] == [("support", "3", "0.3333",
                                                                                        "95.0")]  # fmt: skip
    hours = list(csv.DictReader(io.StringIO(await (await sup.get(f"/api/reports/volume.csv?{PERIOD}&table=by_hour"))
                                            .text())))  # fmt: skip
    assert len(hours) == 24 and hours[9] == {"period": "09", "calls": "2", "answered": "2", "contained": "1",
                                             "transferred": "1", "abandoned": "0"}  # fmt: skip
    bad = await sup.get(f"/api/reports/volume.csv?{PERIOD}&table=nope")
    assert bad.status == 400 and "by_day" in (await bad.json())["error"]
    quiet = await sup.get("/api/reports/latency.csv?since=2020-01-01&until=2020-01-02")
    empty = list(csv.reader(io.StringIO(await quiet.text())))
    assert empty == [["day", "replies", "mean", "p50", "p90", "p99", "max"], ["all", "0", "", "", "", "", ""]]
    agents = {a["agent_id"]: a for a in (await (await sup.get(f"/api/reports/agents?{PERIOD}")).json())["agents"]}
    assert (agents["agent"]["working"], agents["agent"]["calls_answered"], agents["agent"]["aht"]) == (130.0, 1, 130.0)
    assert (agents["agent"]["reviews"], agents["agent"]["mean_score"]) == (2, 85.0)
    assert agents["bob"]["occupancy"] is None and agents["bob"]["aht"] == 60.0  # no state changes stored for bob


async def test_periods_are_checked_and_an_agent_reads_only_their_own_qa_scores(console: Console) -> None:
    sup, agent = await console.client("supervisor"), await console.client("agent")
    r = await sup.get("/api/reports/volume?since=2026-03-05&until=2026-03-01")
    assert r.status == 400 and "swap" in (await r.json())["error"]
    assert (await sup.get("/api/reports/volume?since=2024-01-01&until=2026-03-01")).status == 400
    assert (await sup.get("/api/reports/volume?since=yesterday")).status == 400
    default = await (await sup.get("/api/reports/volume")).json()
    assert len(default["by_day"]) == 7  # the last 7 days by default
    mine = await (await agent.get(f"/api/reports/qa?{PERIOD}&group=agent")).json()
    assert mine["own_calls_only"] is True and [(r["group"], r["reviews"]) for r in mine["rows"]] == [("agent", 2)]
    everyone = await (await sup.get(f"/api/reports/qa?{PERIOD}&group=agent")).json()
    assert sorted(r["group"] for r in everyone["rows"]) == ["agent", "bob"]
    for name in ("volume", "queues", "agents", "latency"):
        assert (await agent.get(f"/api/reports/{name}")).status == 403
        assert (await agent.get(f"/reports/{name}")).status == 403
    assert (await agent.get(f"/reports/qa?{PERIOD}")).status == 200
    qa = await console.client("qa")
    assert (await qa.get(f"/api/reports/agents?{PERIOD}")).status == 200
