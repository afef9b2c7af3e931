"""The knowledge-base area of the console over a real SQLite store: check, try, draft, publish, roll back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.console import Console, console_app

FAQ = (Path(__file__).resolve().parent.parent / "flows" / "acme_faq.yaml").read_text()


@pytest.fixture
async def console(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Console]:
    async for c in console_app(tmp_path, aiohttp_client):  # stores acme_faq as live version 1
        yield c


async def test_list_and_detail_show_the_live_version_and_its_entries(console: Console) -> None:
    qa = await console.client("qa")
    listed = await (await qa.get("/api/knowledge")).json()
    assert [(b["name"], b["live"]) for b in listed["bases"]] == [("acme_faq", 1)]
    detail = await (await qa.get("/api/knowledge/acme_faq")).json()
    ids = [e["id"] for e in detail["entries"]]
    assert "delivery_cost" in ids and len(ids) >= 8
    assert detail["draft"] is None and detail["versions"][0]["live"] is True
    page = await qa.get("/knowledge/acme_faq")
    assert page.status == 200 and "delivery_cost" in await page.text()
    assert (await qa.post("/api/knowledge/acme_faq/publish", {"source": FAQ, "expect_live": 1})).status == 403


async def test_problems_come_with_their_line_and_block_publishing(console: Console) -> None:
    sup = await console.client("supervisor")
    broken = FAQ.replace("    answer: >-", "    anwser: >-", 1)
    check = await (await sup.post("/api/knowledge/acme_faq/validate", {"source": broken})).json()
    assert check["ok"] is False
    line = broken.splitlines().index(next(x for x in broken.splitlines() if "anwser" in x)) + 1
    assert any(p["line"] == line and p["severity"] == "error" for p in check["problems"]), check["problems"]
    r = await sup.post("/api/knowledge/acme_faq/publish", {"source": broken, "expect_live": 1})
    assert r.status == 400 and "not published" in (await r.json())["error"]
    bad_yaml = await (await sup.post("/api/knowledge/acme_faq/validate", {"source": "entries: [\n"})).json()
    assert bad_yaml["ok"] is False and bad_yaml["problems"][0]["line"] >= 1


async def test_a_question_is_answered_above_the_threshold_and_refused_below(console: Console) -> None:
    sup = await console.client("supervisor")
    asked = {"source": FAQ, "question": "how much is delivery?"}
    r = await (await sup.post("/api/knowledge/acme_faq/ask", asked)).json()
    assert r["answered"] is True and r["entry"] == "delivery_cost" and "four dollars" in r["answer"]
    r = await (await sup.post("/api/knowledge/acme_faq/ask", {"source": FAQ,
                                                               "question": "can you fix my car engine"})).json()
    assert r["answered"] is False and "below the threshold" in r["explanation"]


async def test_drafts_are_locked_and_publish_then_rollback_are_audited(console: Console) -> None:
    sup = await console.client("supervisor")
    admin = await console.client("admin")
    changed = FAQ.replace("four dollars ninety nine", "five dollars")
    d = await (await sup.send("PUT", "/api/knowledge/acme_faq/draft", {"source": changed, "revision": 0})).json()
    assert d["revision"] == 1
    late = await admin.send("PUT", "/api/knowledge/acme_faq/draft", {"source": FAQ, "revision": 0})
    assert late.status == 409 and "supervisor saved this draft" in (await late.json())["error"]
    stale = await sup.post("/api/knowledge/acme_faq/publish", {"source": changed, "expect_live": None})
    assert stale.status == 409
    r = await (await sup.post("/api/knowledge/acme_faq/publish", {"source": changed, "expect_live": 1,
                                                                   "note": "cheaper"})).json()  # fmt: skip
    assert r["live"] == 2 and r["loaded"] is False  # no flow registry in this app: stored and live, not loaded
    detail = await (await sup.get("/api/knowledge/acme_faq")).json()
    assert detail["live"] == 2 and detail["draft"] is None and "five dollars" in detail["live_source"]
    back = await (await sup.post("/api/knowledge/acme_faq/rollback", {"version": 1})).json()
    assert back["live"] == 1
    actions = [x.action for x in (await console.store.console.list_audit())[0]]
    assert {"knowledge.draft", "knowledge.publish", "knowledge.rollback"} <= set(actions)
