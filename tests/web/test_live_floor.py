"""The live floor in a real Chromium against `ivr serve`, with real SIP calls and a real agent phone.

A supervisor opens the live floor. A caller rings the Acme hotline and presses 0 for an agent; the agent phone (an
`ivr call --listen` process configured as agent Ann) answers and hangs up a few seconds later. The page shows the
call in the flow with its transcript growing, then in the queue ringing Ann, then with Ann, and then gone; Ann goes
from available to busy and back. A second caller asks for the store hours by voice, so the reply latency the IVR
measured shows on the chart. Nothing on the page is reloaded.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import assert_clean_exit
from tests.e2e.harness import IVR, IvrServer, finish_call, free_port, start_call, start_server, wait_listening
from tests.web.conftest import PASSWORD, SECRET, VIEWPORT, BrowserProblems, login, shot, wait_js

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def _desk(ann_port: int) -> str:
    return f"""
[[queues]]
name = "support"
ring_timeout = 10
announce_interval = 0
wrap_up = 2
overflow = ""

[[agents]]
id = "ann"
name = "Ann"
sip_uri = "sip:ann@127.0.0.1:{ann_port}"
queues = ["support"]
"""


@pytest.fixture(scope="module")
def floor(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[tuple[IvrServer, int]]:
    """`ivr serve` on the Acme hotline with queue support and agent Ann, and a supervisor who can log in."""
    cache = getattr(pytestconfig, "cache", None)  # the other browser tests' prompt cache, when there is one
    prompts = cache.mkdir("ivr-web-prompts") if cache is not None else tmp_path_factory.mktemp("prompts")
    ann = free_port()
    env = {"IVR_FLOWS__DEFAULT": str(REPO / "flows/acme_retail.yaml"), "IVR_WEB__SECRET": SECRET,
           "IVR_PASSWORD_STDIN": "1", "IVR_TTS__CACHE_DIR": str(prompts)}  # fmt: skip
    srv = start_server(tmp_path_factory.mktemp("live"), workers=1, kamailio=False, env=env, extra_toml=_desk(ann))
    try:
        args = ["users", "add", "supervisor", "--config", str(srv.root / "config.toml"), "--role", "supervisor",
                "--display-name", "Sam Supervisor"]  # fmt: skip
        made = subprocess.run([*IVR, *args], input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
                              cwd=srv.root, env=srv.env)  # fmt: skip
        assert made.returncode == 0, made.stderr
        yield srv, ann
    finally:
        assert_clean_exit(srv)


@pytest.fixture
def live_page(browser: Any, floor: tuple[IvrServer, int], problems: BrowserProblems) -> Iterator[Any]:
    base = f"http://127.0.0.1:{floor[0].web_port}"
    context = browser.new_context(viewport=VIEWPORT, base_url=base, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(20_000)
    pg = context.new_page()
    pg.on("pageerror", lambda exc: problems.lines.append(f"script error: {exc}"))
    pg.on("console", lambda msg: problems.lines.append(f"console {msg.type}: {msg.text} ({msg.location.get('url')})")
          if msg.type == "error" else None)  # fmt: skip
    yield pg
    context.close()
    assert not problems.unexpected(), "the page reported problems:\n" + "\n".join(problems.unexpected())


def _phases(page: Any, call_id: str) -> list[str]:
    return list(page.evaluate(f"() => window.ivrLive.phases[{call_id!r}] || []"))


def test_a_call_moves_from_the_flow_to_the_queue_to_an_agent_and_leaves_the_floor(
    live_page: Any, floor: tuple[IvrServer, int]
) -> None:
    srv, ann_port = floor
    page = live_page
    login(page, "supervisor", next_path="/live")
    assert page.url.endswith("/live")
    page.get_by_test_id("live-status").filter(has_text="live").wait_for()
    assert page.locator("#calls tr").count() == 0
    assert page.locator('#agents tr[data-agent="ann"] .badge').inner_text() == "available"
    assert page.locator('#queues tr[data-queue="support"] td').nth(6).inner_text() == "Ann"  # could take a call

    agent = start_call("", "15 hangup", extra=("--listen", "--port", str(ann_port), "--max-seconds", "90"))
    wait_listening(agent)
    caller = start_call(srv.uri, "quiet dtmf 0", max_seconds=90)
    voice = None
    try:
        row = page.locator("#calls tr[data-call]").first
        row.wait_for()
        call_id = row.get_attribute("data-call")
        voice = start_call(srv.uri, "17 say what are your store hours", "+9 hangup", max_seconds=90)
        mine = page.locator(f'#calls tr[data-call="{call_id}"]')
        mine.and_(page.locator('[data-phase="flow"]')).filter(has_text="main_menu").wait_for()
        assert "127.0.0.1" not in mine.locator("td").first.inner_text()  # the caller's number, not the SIP URI
        mine.click()  # the live transcript opens and grows as the IVR speaks
        turns = page.locator("#transcript-turns li")
        turns.filter(has_text="Thank you for calling Acme.").wait_for()
        turns.filter(has_text="press 1 for order status").wait_for()

        mine.and_(page.locator('[data-phase="agent"]')).filter(has_text="Ann").wait_for(timeout=60_000)
        turns.filter(has_text="Caller").filter(has_text="agent").wait_for()  # the key the caller pressed, its intent
        page.locator('#agents tr[data-agent="ann"] .badge', has_text="busy").wait_for()
        assert _phases(page, call_id)[:4] == ["flow", "queue", "ringing", "agent"]
        wait_js(page, "window.ivrLive.floor().latency.points.length > 0", timeout=30)  # the voice caller's turn
        shot(page, "live")

        mine.wait_for(state="detached", timeout=30_000)  # Ann hung up: the call leaves the floor
        page.get_by_test_id("transcript").filter(has_text="The call has ended").wait_for()
        page.locator('#agents tr[data-agent="ann"] .badge', has_text="available").wait_for(timeout=15_000)
        support = page.locator('#queues tr[data-queue="support"] td')
        assert support.nth(3).inner_text().startswith("100%") and support.nth(4).inner_text() == "1"
        page.locator("#calls tr[data-call]").first.wait_for(state="detached", timeout=60_000)  # and so does the other
        lag = page.evaluate("() => window.ivrLive.lag")
        assert lag and max(lag) < 5, lag  # records reach the page as they happen, never by a reload
        assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1
    finally:
        timelines = [finish_call(p, timeout=90) for p in (caller, agent, voice) if p is not None]
    assert len(timelines) == 3 and all(t["answered"] for t in timelines)
    assert "x-ivr-call-id" in {k.lower() for k in timelines[1]["events"][0]["headers"]}
