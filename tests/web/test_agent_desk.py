"""The agent desk in a real Chromium against `ivr serve`, with real SIP calls and a real agent phone.

Agent Ann logs in on /desk, pauses for lunch and comes back available. A caller rings the Acme hotline and presses 0;
the desk shows the screen pop before Ann's phone (an `ivr call --listen` process) gets the INVITE. Ann's phone says
"three" and "seven" (FSDD recordings), which the bridged call's recognition adds to the desk's transcript. Ann's
browser is closed mid-call and opened again: the call is still there. When Ann hangs up, the desk goes to wrap-up,
she saves a disposition and becomes available at once. A supervisor watches the call on /live move from the flow to
the queue to Ann, finds the disposition on the call's QA page, and adds an agent on /agents.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import FSDD, REPO
from tests.e2e.conftest import assert_clean_exit
from tests.e2e.harness import IVR, IvrServer, events, finish_call, free_port, start_call, start_server, wait_listening
from tests.web.conftest import PASSWORD, SECRET, VIEWPORT, BrowserProblems, login, shot, wait_js

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

WRAP_UP = 25  # seconds: long enough to see and leave wrap-up from the desk


def _config(ann_port: int) -> str:
    return f"""
[[queues]]
name = "support"
ring_timeout = 15
announce_interval = 0
wrap_up = {WRAP_UP}
overflow = ""

[[agents]]
id = "ann"
name = "Ann"
sip_uri = "sip:ann@127.0.0.1:{ann_port}"
queues = ["support"]
skills = ["en"]
"""


@pytest.fixture(scope="module")
def desk_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[tuple[IvrServer, int]]:
    """`ivr serve` on the Acme hotline with queue support and agent Ann; console users ann (agent) and supervisor."""
    cache = getattr(pytestconfig, "cache", None)
    prompts = cache.mkdir("ivr-web-prompts") if cache is not None else tmp_path_factory.mktemp("prompts")
    ann = free_port()
    env = {"IVR_FLOWS__DEFAULT": str(REPO / "flows/acme_retail.yaml"), "IVR_WEB__SECRET": SECRET,
           "IVR_PASSWORD_STDIN": "1", "IVR_TTS__CACHE_DIR": str(prompts)}  # fmt: skip
    srv = start_server(tmp_path_factory.mktemp("desk"), workers=1, kamailio=False, env=env, extra_toml=_config(ann))
    try:
        for user, role in (("ann", "agent"), ("supervisor", "supervisor")):
            args = ["users", "add", user, "--config", str(srv.root / "config.toml"), "--role", role,
                    "--display-name", user.title()]  # fmt: skip
            made = subprocess.run([*IVR, *args], input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
                                  cwd=srv.root, env=srv.env)  # fmt: skip
            assert made.returncode == 0, made.stderr
        yield srv, ann
    finally:
        assert_clean_exit(srv)


def _context(browser: Any, srv: IvrServer, problems: BrowserProblems) -> Any:
    context = browser.new_context(viewport=VIEWPORT, base_url=f"http://127.0.0.1:{srv.web_port}", locale="en-US",
                                  timezone_id="UTC")  # fmt: skip
    context.set_default_timeout(20_000)
    context.on("page", lambda pg: _watch(pg, problems))
    return context


def _watch(pg: Any, problems: BrowserProblems) -> None:
    pg.on("pageerror", lambda exc: problems.lines.append(f"script error: {exc}"))
    pg.on("console", lambda msg: problems.lines.append(f"console {msg.type}: {msg.text} ({msg.location.get('url')})")
          if msg.type == "error" else None)  # fmt: skip


def test_an_agent_takes_a_call_from_the_screen_pop_to_the_disposition(
    browser: Any, desk_server: tuple[IvrServer, int], problems: BrowserProblems
) -> None:
    srv, ann_port = desk_server
    agent_ctx, sup_ctx = _context(browser, srv, problems), _context(browser, srv, problems)
    agent, caller = None, None
    try:
        desk = agent_ctx.new_page()
        login(desk, "ann")
        assert desk.url.endswith("/desk")  # an agent's home is the desk
        desk.get_by_test_id("desk-status").filter(has_text="live").wait_for()
        badge = desk.get_by_test_id("agent-state")
        assert badge.get_attribute("data-state") == "available"  # configured agents are logged in at start-up
        desk.select_option("#reason", "Lunch")
        desk.click("#go-not-ready")
        desk.locator('[data-testid="agent-state"][data-state="not_ready"]').wait_for()
        assert "Lunch" in desk.locator("#state-for").inner_text()
        desk.click("#go-available")
        desk.locator('[data-testid="agent-state"][data-state="available"]').wait_for()
        desk.get_by_test_id("no-call").wait_for()
        shot(desk, "desk-idle")

        sup = sup_ctx.new_page()
        login(sup, "supervisor", next_path="/live")
        sup.get_by_test_id("live-status").filter(has_text="live").wait_for()
        sup.locator('#agents tr[data-agent="ann"] .badge', has_text="available").wait_for()

        phone = ("--listen", "--port", str(ann_port), "--max-seconds", "120")
        agent = start_call("", f"3.0 play {FSDD / '3_lucas_0.wav'}", f"+2.5 play {FSDD / '7_jackson_0.wav'}",
                           "14 hangup", extra=phone)  # fmt: skip
        wait_listening(agent)
        caller = start_call(srv.uri, "quiet dtmf 0", max_seconds=120)
        pop = desk.get_by_test_id("screen-pop")
        pop.wait_for(timeout=60_000)
        call_id = pop.get_attribute("data-call")
        shown = wait_js(desk, f"window.ivrDesk.shown[{call_id!r}]")
        assert desk.get_by_test_id("pop-queue").inner_text().startswith("support")
        assert desk.get_by_test_id("pop-intent").inner_text() == "agent"
        assert "127.0.0.1" not in desk.get_by_test_id("pop-caller").inner_text()  # the number, not the SIP URI
        path = desk.locator("#pop-path li").all_inner_texts()
        assert path[0] == "greeting" and "main_menu" in path, path  # passed-through steps too
        turns = desk.locator("#desk-turns li")
        turns.filter(has_text="Thank you for calling Acme.").wait_for()  # the whole bot transcript came with the pop
        before = turns.count()
        pop.and_(desk.locator('[data-phase="talking"]')).wait_for(timeout=30_000)
        shot(desk, "desk-pop")

        # Ann's own speech on the bridged call, recognized on her channel, grows the desk's transcript
        desk.locator("#desk-turns li.agent").first.wait_for(timeout=40_000)
        assert turns.count() > before
        desk.close()  # the browser closes mid-call: the call goes on ...
        again = agent_ctx.new_page()
        again.goto("/desk")  # ... and the desk opened again shows it
        mine = again.locator(f'[data-testid="screen-pop"][data-call="{call_id}"]')
        mine.wait_for()
        assert mine.get_attribute("data-phase") in ("talking", "ended")
        assert again.locator("#desk-turns li.agent").count() >= 1

        again.locator('[data-testid="screen-pop"][data-phase="ended"]').wait_for(timeout=40_000)  # Ann hung up
        again.get_by_test_id("wrap-up").wait_for()
        again.locator('[data-testid="agent-state"][data-state="wrap_up"]').wait_for()
        again.select_option("#disposition", "Order changed")
        again.fill("#notes", "Customer wants delivery on Friday; moved it.")
        shot(again, "desk-wrap-up")
        again.click("#save-ready")
        again.get_by_test_id("disposition-saved").filter(has_text="Order changed").wait_for()
        again.locator('[data-testid="agent-state"][data-state="available"]').wait_for()  # wrap-up ended early
        agent_line, caller_line = finish_call(agent, timeout=90), finish_call(caller, timeout=90)
        assert caller_line["answered"] and caller_line["ended_by"] == "remote"  # Ann hung up; the caller had her
        agent = caller = None

        rang = events(agent_line, "incoming")[0]["wall"]
        assert shown < rang, (shown, rang)  # the pop was on screen before the INVITE reached Ann's phone
        assert agent_line["headers"]["X-IVR-Call-ID"] == call_id  # the SIP headers stay as they were
        phases = sup.evaluate(f"() => window.ivrLive.phases[{call_id!r}] || []")
        assert phases[:4] == ["flow", "queue", "ringing", "agent"], phases

        sup.goto(f"/calls/{call_id}")
        sup.get_by_test_id("disposition").filter(has_text="Order changed").wait_for()
        assert "delivery on Friday" in sup.get_by_test_id("notes").inner_text()

        sup.goto("/agents")
        sup.fill('#agent-form input[name="id"]', "cara")
        sup.fill('#agent-form input[name="name"]', "Cara")
        sup.fill('#agent-form input[name="sip_uri"]', "sip:cara@127.0.0.1:5099")
        sup.fill('#agent-form input[name="skills"]', "en, de")
        sup.check('#agent-queues input[value="support"]')
        sup.click('#agent-form button[type="submit"]')
        row = sup.locator('#agents tr[data-agent="cara"]')
        row.wait_for()
        assert "logged out" in row.inner_text() and "en, de" in row.inner_text()  # new agents log in on their desk
        shot(sup, "agents-admin")
        sup.goto("/live")
        sup.locator('#agents tr[data-agent="cara"]').wait_for()  # the running ACD has her, logged out
    finally:
        for proc in (agent, caller):
            if proc is not None:
                proc.kill()
                proc.communicate()
        agent_ctx.close()
        sup_ctx.close()
    assert not problems.unexpected(), "the page reported problems:\n" + "\n".join(problems.unexpected())
