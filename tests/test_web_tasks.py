"""Follow-up tasks and the CSAT report over the real console app and SQLite store, role by role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.core.config import LiveConfig
from ivr.session.live_floor import LiveFloor
from ivr.storage.csat import CsatStore, SurveyResult
from tests.console import Console, console_app

SURVEYS = [("c1", "agent", "support", 2), ("c2", "agent", "support", 5), ("c3", "bob", "returns", 1),
           ("c4", "bob", "returns", None), ("c5", "bob", "support", 4)]  # fmt: skip


@pytest.fixture
async def floor(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[tuple[Console, LiveFloor]]:
    live = LiveFloor(None, LiveConfig(alert_hold_seconds=0))
    async for console in console_app(tmp_path, aiohttp_client, live=live):
        csat = CsatStore(console.store)
        for call_id, agent, queue, _ in SURVEYS:
            console.store.call_started(call_id, caller=f"<sip:555{call_id[1]}@127.0.0.1>", flow_name="acme_retail")
            console.store.call_updated(call_id, agent_id=agent, queue=queue)
        assert await console.store.flush(10)
        now = datetime.now(UTC)
        for call_id, agent, queue, score in SURVEYS:
            result = SurveyResult(call_id, agent, queue, "acme_retail", score, "dtmf" if score else "",
                                  "answered" if score else "invalid", now, now if score else None)  # fmt: skip
            task = await csat.record_survey(result, followup_at_or_below=2)
            live.survey_done(result, task)
        yield console, live
        await live.stop()


async def _audit(console: Console, action: str) -> list[Any]:
    return [x for x in (await console.store.console.list_audit())[0] if x.action == action]


async def test_supervisors_see_open_tasks_others_may_not(floor: tuple[Console, LiveFloor]) -> None:
    console, _ = floor
    sup = await console.client("supervisor")
    r = await sup.get("/api/tasks")
    assert r.status == 200
    body = await r.json()
    assert [(t["call_id"], t["score"], t["agent_id"], t["status"]) for t in body["items"]] == [
        ("c3", 1, "bob", "open"), ("c1", 2, "agent", "open")]  # fmt: skip
    assert body["open_count"] == 2 and body["followup_at_or_below"] == 2
    assert body["assignees"] == ["admin", "supervisor"]
    first = body["items"][0]
    assert first["caller"] == "5553" and "rated the call 1 of 5" in first["summary"]
    page = await sup.get("/tasks")
    html = await page.text()
    assert page.status == 200 and 'data-task="' in html and "c3" in html and "Follow-up tasks" in html
    for role in ("qa", "agent"):
        c = await console.client(role)
        assert (await c.get("/api/tasks")).status == 403
        assert (await c.get("/tasks")).status == 403
        assert (await c.send("PATCH", f"/api/tasks/{body['items'][0]['id']}", {"assignee": role})).status == 403


async def test_assign_close_and_reopen_are_checked_and_audited(floor: tuple[Console, LiveFloor]) -> None:
    console, live = floor
    sup = await console.client("supervisor")
    task = (await (await sup.get("/api/tasks")).json())["items"][0]
    path = f"/api/tasks/{task['id']}"
    live.check_alerts()
    (alert,) = [a for a in live.snapshot().alerts if a.kind == "csat_followup"]
    assert alert.message.startswith("2 callers rated the call low") and "/tasks" in alert.message

    r = await sup.send("PATCH", path, {"assignee": "agent"})
    assert r.status == 400 and "not an admin or supervisor" in (await r.json())["error"]
    r = await sup.send("PATCH", path, {"assignee": "supervisor"})
    assert r.status == 200 and (await r.json())["assignee"] == "supervisor"
    r = await sup.send("PATCH", path, {"close_note": "   "})
    assert r.status == 400 and "note" in (await r.json())["error"]
    r = await sup.send("PATCH", path, {})
    assert r.status == 400
    r = await sup.send("PATCH", path, {"close_note": "Called back: the parcel was late; refunded the delivery."})
    closed = await r.json()
    assert r.status == 200 and (closed["status"], closed["closed_by"]) == ("closed", "supervisor")
    assert closed["note"] == "Called back: the parcel was late; refunded the delivery."
    assert (await (await sup.get("/api/tasks")).json())["open_count"] == 1
    assert [t["id"] for t in (await (await sup.get("/api/tasks?status=closed")).json())["items"]] == [task["id"]]
    assert (await sup.send("PATCH", "/api/tasks/9999", {"reopen": True})).status == 404

    (assigned,) = await _audit(console, "task.assign")
    assert (assigned.actor, assigned.target) == ("supervisor", str(task["id"]))
    (closing,) = await _audit(console, "task.close")
    assert "refunded" in str(closing.detail)
    live.check_alerts()
    (alert,) = [a for a in live.snapshot().alerts if a.kind == "csat_followup"]
    assert alert.message.startswith("2 callers")  # raised once; it stays until no task is open

    admin = await console.client("admin")
    r = await admin.send("PATCH", path, {"reopen": True})
    assert r.status == 200 and (await r.json())["status"] == "open"
    assert len(await _audit(console, "task.reopen")) == 1
    for t in (await (await admin.get("/api/tasks")).json())["items"]:
        await admin.send("PATCH", f"/api/tasks/{t['id']}", {"close_note": "done"})
    live.check_alerts()
    assert not [a for a in live.snapshot().alerts if a.kind == "csat_followup"]  # every task closed: cleared


async def test_the_csat_report_per_agent_and_queue(floor: tuple[Console, LiveFloor]) -> None:
    console, _ = floor
    qa = await console.client("qa")
    r = await qa.get("/api/reports/csat")
    assert r.status == 200, await r.text()
    report = await r.json()
    agents = {row["group"]: row for row in report["agents"]}
    assert (agents["agent"]["offered"], agents["agent"]["answered"], agents["agent"]["mean_score"]) == (2, 2, 3.5)
    assert (agents["bob"]["offered"], agents["bob"]["answered"], agents["bob"]["low"]) == (3, 2, 1)
    assert agents["all"]["csat"] == 0.5 and [agents["all"][f"s{n}"] for n in range(1, 6)] == [1, 1, 0, 1, 1]
    queues = {row["group"]: row for row in report["queues"]}
    assert (queues["support"]["offered"], queues["returns"]["answered"]) == (3, 1)
    assert report["columns"]["agents"][:4] == ["group", "offered", "answered", "mean_score"]
    csv = await qa.get("/api/reports/csat.csv?table=queues")
    assert csv.status == 200 and (await csv.text()).splitlines()[0].startswith("group,offered,answered")
    assert (await qa.get("/reports/csat")).status == 200
    index = await (await qa.get("/api/reports")).json()
    assert "csat" in [x["name"] for x in index["reports"]]
    agent = await console.client("agent")
    assert (await agent.get("/api/reports/csat")).status == 403


async def test_a_queue_asks_for_the_survey_from_its_console_settings(floor: tuple[Console, LiveFloor]) -> None:
    console, _ = floor
    sup = await console.client("supervisor")
    r = await sup.send("PUT", "/api/queues/billing", {"wrap_up": 5, "survey": True})
    assert r.status == 200, await r.text()
    (billing,) = [q for q in (await r.json())["queues"] if q["name"] == "billing"]
    assert billing["survey"] is True
    queues, _ = await console.store.desk.roster()
    assert [q.survey for q in queues if q.name == "billing"] == [True]  # what the running Acd is built from
    r = await sup.send("PUT", "/api/queues/billing", {"wrap_up": 5})
    (billing,) = [q for q in (await r.json())["queues"] if q["name"] == "billing"]
    assert billing["survey"] is False


async def test_the_call_page_shows_the_callers_rating(floor: tuple[Console, LiveFloor]) -> None:
    console, _ = floor
    qa = await console.client("qa")
    page = await (await qa.get("/api/calls/c1")).json()
    assert {k: page["survey"][k] for k in ("score", "method", "outcome", "agent_id")} == {
        "score": 2, "method": "dtmf", "outcome": "answered", "agent_id": "agent"}  # fmt: skip
    assert (await (await qa.get("/api/calls/c4")).json())["survey"]["score"] is None
    html = await (await qa.get("/calls/c1")).text()
    assert "rated 2 of 5" in html
    assert "no score" in await (await qa.get("/calls/c4")).text()
