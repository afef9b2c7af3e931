"""Follow-up tasks and the CSAT report in Chromium: a supervisor assigns a low-score task, closes it with a note,
and reads the scores per agent and queue.

The surveys are stored in the server's database the way the survey stores them (CsatStore.record_survey): the
survey itself, over real SIP with an agent phone, is tested in tests/e2e/test_survey.py.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from ivr.storage import CallStore
from ivr.storage.csat import CsatStore, SurveyResult
from tests.web.conftest import WebServer, login, shot

pytestmark = pytest.mark.browser


def _seed(web: WebServer) -> list[str]:
    """Six surveyed calls of agents Ann and Bob in two queues; returns their call ids."""
    tag = uuid.uuid4().hex[:6]
    rows = [("ann", "support", 5, "+15550101"), ("ann", "support", 4, "+15550102"),
            ("bob", "support", 2, "+15550103"), ("bob", "returns", 1, "+15550104"),
            ("ann", "returns", None, "+15550105"), ("bob", "returns", 4, "+15550106")]  # fmt: skip

    async def run() -> list[str]:
        root = web.server.root
        store = CallStore(f"sqlite:///{root / 'var/ivr.db'}", spool_dir=root / "var/t-spool", node="browser-test")
        await store.start(run_migrations=False)
        try:
            ids = []
            for i, (agent, queue, _, caller) in enumerate(rows):
                call_id = f"csat-{tag}-{i}"
                store.call_started(call_id, caller=f'"Caller" <sip:{caller}@127.0.0.1>', flow_name="acme_retail")
                store.call_updated(call_id, agent_id=agent, queue=queue)
                ids.append(call_id)
            assert await store.flush(10)
            csat, now = CsatStore(store), datetime.now(UTC)
            for call_id, (agent, queue, score, _) in zip(ids, rows, strict=True):
                result = SurveyResult(call_id, agent, queue, "acme_retail", score, "dtmf" if score else "",
                                      "answered" if score else "invalid", now, now if score else None)  # fmt: skip
                await csat.record_survey(result, followup_at_or_below=2)
            return ids
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API runs its own event loop in this thread
        return pool.submit(asyncio.run, run()).result()


def test_a_supervisor_assigns_and_closes_a_follow_up_task_and_reads_the_csat_report(page: Any, web: WebServer) -> None:
    ids = _seed(web)
    login(page, "supervisor")
    page.get_by_role("link", name="Tasks").click()
    page.wait_for_url("**/tasks")
    low = {ids[2]: "2", ids[3]: "1"}
    for call_id, score in low.items():
        row = page.locator("tr.task", has=page.get_by_role("link", name=call_id))
        assert row.locator(".score").inner_text() == score
    assert page.locator("tr.task", has=page.get_by_role("link", name=ids[0])).count() == 0  # a 5 opens no task

    row = page.locator("tr.task", has=page.get_by_role("link", name=ids[3]))
    with page.expect_navigation():  # the page reloads once the API has taken the change
        row.locator("select.assignee").select_option("supervisor")
        page.get_by_text("Task assigned to supervisor").wait_for()
    row = page.locator("tr.task", has=page.get_by_role("link", name=ids[3]))
    assert row.locator("select.assignee").input_value() == "supervisor"
    row.get_by_role("button", name="Close…").click()
    task_id = row.get_attribute("data-task")
    detail = page.locator(f'tr[data-for="{task_id}"]')
    note = "Called back: the return label never arrived; sent it again."
    detail.get_by_label("What did the call-back find?").fill(note)
    shot(page, "tasks")
    with page.expect_navigation():
        detail.get_by_role("button", name="Close task").click()
        page.get_by_text("Task closed").wait_for()
    assert page.locator("tr.task", has=page.get_by_role("link", name=ids[3])).count() == 0  # no longer open
    page.goto("/tasks?status=closed")
    closed = page.locator("tr.task", has=page.get_by_role("link", name=ids[3]))
    assert "closed" in closed.inner_text()
    assert "the return label never arrived" in page.locator(f'tr[data-for="{task_id}"]').inner_text()

    page.goto("/reports/csat")
    table = page.locator('table[data-table="agents"]')
    table.wait_for()
    text = table.inner_text()
    assert "ann" in text and "bob" in text and "all" in text
    assert page.locator("#charts svg").count() == 2  # mean score by agent, and the whole floor's scores
    shot(page, "report_csat")
