"""The supervisor's story in a real Chromium against a running `ivr serve`, ending in real SIP calls.

Two callers ring the Acme hotline first, so there are recorded calls of the live version. Then the supervisor logs
in, opens the demo flow, lengthens the greeting in the YAML editor, makes a typo and sees the validator's message at
its line, fixes it, runs the flow's test cases, replays the recorded calls through the draft, reads the diff and
publishes. The next caller hears the new greeting: it is the prompt stored in the call's turns, and the greeting
the caller recorded is longer by exactly what the added words take to say. A rollback in one click brings the old
greeting back for the call after that.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ivr.core.audio import read_wav, rms_dbfs
from ivr.core.config import TtsConfig
from ivr.storage import CallDetail
from tests.conftest import REPO
from tests.e2e.harness import IvrServer, finish_call, run_call, start_call
from tests.e2e.test_flow_publish import ivr_said, stored_call
from tests.web.conftest import WebServer, login, shot, wait_js
from tts.cached import CachedSynthesizer

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

OLD = "Thank you for calling Acme."
ADDED = " Our spring sale starts today, with twenty percent off every garden tool."
NEW = OLD + ADDED
_OFFERED = re.compile(r"call (\S+) offered on \S+ from .*; flow acme_retail version (\d+)")


def test_supervisor_edits_tests_replays_publishes_and_rolls_back_the_greeting(
    page: Any, web: WebServer, tmp_path: Path
) -> None:
    source = (REPO / "flows/acme_retail.yaml").read_text().splitlines()
    greeting_line = source.index(f"    text: {OLD}") + 1  # 1-based, as the editor and the validator count
    assert source[greeting_line - 3 : greeting_line + 1] == ["  greeting:", "    kind: say", f"    text: {OLD}",
                                                             "    next: identify_caller"]  # fmt: skip
    srv = web.server
    srv.wait_log("flow acme_retail version 1 live")

    # Two recorded calls of version 1 (store hours; an order by keypad), placed while the supervisor gets to work.
    earlier = len(_OFFERED.findall(srv.log()))  # the server is shared with the other browser tests
    calls = [
        start_call(srv.uri, "quiet dtmf 3", "quiet hangup", max_seconds=60),
        start_call(srv.uri, "quiet dtmf 1", "quiet dtmf 12345", "quiet hangup", max_seconds=60),
    ]

    login(page, "supervisor", next_path="/flows")
    row = page.get_by_test_id("flow-row-acme_retail")
    assert row.locator("td").nth(1).inner_text() == "version 1"
    shot(page, "flows")

    # The flow page: its graph, and the greeting step's form from a click on its node.
    row.get_by_role("link", name="acme_retail").click()
    page.wait_for_url("**/flows/acme_retail")
    page.get_by_test_id("problem-count").filter(has_text="valid").wait_for()  # the live text validates
    wait_js(page, "window.flowGraph && window.flowGraph.nodes().length === window.flowPage.checked.graph.nodes.length")
    _click_node(page, "greeting")
    assert page.get_by_test_id("step-title").inner_text() == "greeting · say"
    assert page.locator("#step-form textarea").first.input_value() == OLD  # the form shows what the YAML says
    shot(page, "flow-graph")

    # In the YAML editor: mistype the greeting step's `next`, then lengthen the greeting on the line above it.
    page.get_by_test_id("step-show-yaml").click()  # the cursor goes to the step's first line, `  greeting:`
    keys = page.keyboard
    for _ in range(3):
        keys.press("ArrowDown")
    _retype_key(page, "nxet")
    keys.press("ArrowUp")
    keys.press("End")
    keys.type(ADDED)
    keys.press("Escape")  # close a completion list, if one opened
    problem = page.get_by_test_id("problem-item").filter(has_text=f"line {greeting_line + 1}")
    problem.wait_for()
    listed = page.get_by_test_id("problems").inner_text()
    assert "unknown field 'nxet'" in listed and "did you mean 'next'?" in listed, listed
    marked = page.locator(".cm-lint-marker-error")  # the editor's gutter marks the line as well
    assert marked.count() >= 1
    assert page.get_by_test_id("save-state").inner_text() == "Unsaved changes"
    page.get_by_test_id("step-close").click()  # room for the editor
    page.evaluate("() => window.scrollTo(0, 0)")
    shot(page, "flow-editor-error")

    problem.click()  # jumps to the line
    _retype_key(page, "next")
    page.get_by_test_id("problem-count").filter(has_text="valid").wait_for()
    assert page.get_by_test_id("problems").inner_text() == ""
    assert _editor_text(page).splitlines()[greeting_line - 1] == f"    text: {NEW}"
    page.get_by_test_id("save-draft").click()
    page.get_by_test_id("save-state").filter(has_text="Draft saved (revision 1").wait_for()

    # The flow's test cases against the edited text.
    page.get_by_test_id("tab-tests").click()
    page.get_by_test_id("tests-run").click()
    summary = page.get_by_test_id("tests-summary")
    summary.filter(has_text=re.compile(r"\d+ of \d+ pass")).wait_for(timeout=60_000)
    cases = page.get_by_test_id("test-case")
    n = cases.count()
    assert n >= 10 and summary.inner_text().startswith(f"{n} of {n} pass"), summary.inner_text()
    assert cases.locator(".badge", has_text="pass").count() == n
    _scroll_to_top(page, "#tools-tabs")
    shot(page, "flow-test-panel")

    # Replay the two recorded calls through the draft: a longer greeting changes no caller's outcome.
    recorded = [finish_call(c, timeout=90) for c in calls]
    assert all(t["answered"] for t in recorded), recorded
    ids = [call_id for call_id, version in _OFFERED.findall(srv.log())[earlier:] if version == "1"]
    assert len(ids) == 2, ids
    for call_id in ids:
        _stored(srv, call_id)  # ended and written, so it can be replayed
    page.get_by_test_id("tab-replay").click()
    page.get_by_test_id("replay-limit").fill("2")  # the last two calls: ours (other browser tests called earlier)
    page.get_by_test_id("replay-run").click()
    replay = page.get_by_test_id("replay-summary")
    replay.filter(has_text="would end differently").wait_for(timeout=60_000)
    assert replay.inner_text().startswith("0 of 2 call(s) would end differently"), replay.inner_text()
    rows = page.get_by_test_id("replay-call")
    assert sorted(rows.nth(i).get_attribute("data-call") for i in range(rows.count())) == sorted(ids)
    assert rows.locator(".badge", has_text="same").count() == 2
    for i in range(2):
        rows.nth(i).locator("summary").click()  # what each caller did, in order
    assert rows.filter(has_text="12345").count() == 1, rows.all_inner_texts()
    _scroll_to_top(page, "#tools-tabs")
    shot(page, "flow-replay")

    # Publish: the checks pass and the diff against the live version shows the one changed line.
    page.get_by_test_id("publish-open").click()
    dialog = page.get_by_test_id("publish-dialog")
    confirm = page.get_by_test_id("publish-confirm")
    wait_js(page, "!document.getElementById('publish-confirm').disabled", timeout=60)
    assert confirm.inner_text() == "Publish as version 2"
    assert page.get_by_test_id("check-validation").inner_text() == "Validation: no problems"
    assert re.fullmatch(r"Test cases: all \d+ pass", page.get_by_test_id("check-tests").inner_text())
    diff = page.get_by_test_id("publish-diff")
    assert OLD in diff.locator(".cm-deletedLine, .cm-changedLine").first.inner_text()
    assert ADDED.strip() in diff.inner_text()
    page.get_by_test_id("publish-note").fill("spring sale greeting")
    shot(page, "flow-publish-diff")
    with page.expect_navigation(timeout=30_000):  # the page reloads once the version is live
        confirm.click()
    assert not dialog.is_visible()
    assert page.locator("#live-badge").inner_text() == "live: version 2"
    assert "gives new calls version 2" in page.locator("#serving").inner_text()

    new_wav = tmp_path / "new.wav"
    after_publish = _call(web, new_wav)
    assert after_publish == ("2", NEW)

    # Roll back in one click: the next caller hears the old greeting again.
    page.get_by_test_id("tab-versions").click()
    with page.expect_navigation(timeout=30_000):
        page.get_by_test_id("rollback-1").click()
    assert page.locator("#live-badge").inner_text() == "live: version 1"
    back_wav = tmp_path / "back.wav"
    assert _call(web, back_wav) == ("1", OLD)

    # What the callers heard: the greeting (with the menu right after it) is longer by exactly the audio the server
    # made for the new greeting, and after the rollback shorter by as much again. The two calls compared were each
    # alone on the line; the first calls shared the machine with each other and the browser, and on a loaded
    # machine their audio arrives stretched by jitter (up to 0.8 s over 15 s seen), so they are no length baseline.
    old_s, new_s = _server_prompt_seconds(web, OLD, NEW)
    heard_new, heard_back = _first_prompt_seconds(new_wav), _first_prompt_seconds(back_wav)
    assert abs((heard_new - heard_back) - (new_s - old_s)) < 0.3, (heard_new, heard_back, old_s, new_s)


def _click_node(page: Any, step: str) -> None:
    """Click a step's node on the graph's canvas, where it is drawn (brought into view first if it is not)."""
    graph = page.get_by_test_id("graph")
    box = graph.bounding_box()
    node = f"window.flowGraph.getElementById({step!r})"
    at = page.evaluate(f"() => {node}.renderedPosition()")
    if not (0 < at["x"] < box["width"] and 0 < at["y"] < box["height"]):
        page.evaluate(f"() => window.flowGraph.center({node})")
        at = page.evaluate(f"() => {node}.renderedPosition()")
    page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])
    page.get_by_test_id("step-pane").wait_for()
    # Hovering a node fades the rest of the graph: move off it inside the canvas (where the graph sees the move).
    page.mouse.move(box["x"] + 6, box["y"] + 6, steps=5)
    wait_js(page, "window.flowGraph.elements('.faded').length === 0")


def _scroll_to_top(page: Any, selector: str) -> None:
    page.locator(selector).evaluate("e => e.scrollIntoView({block: 'start'})")


def _retype_key(page: Any, key: str) -> None:
    """On the editor's current line, replace the 4-letter key after the indentation with `key`."""
    keys = page.keyboard
    keys.press("Home")  # CodeMirror: to the first non-blank character
    for _ in range(4):
        keys.press("Shift+ArrowRight")
    keys.type(key)


def _editor_text(page: Any) -> str:
    return str(page.evaluate("window.flowPage.text()"))


def _stored(srv: IvrServer, call_id: str) -> CallDetail:
    """The call's stored record (read on a thread of its own: Playwright's sync API holds this thread's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(stored_call, srv.root, call_id).result()


def _call(web: WebServer, record: Path) -> tuple[str, str]:
    """Ring the hotline, listen to the greeting and menu, hang up; the version the call ran and its first prompt."""
    srv = web.server
    before = len(_OFFERED.findall(srv.log()))
    t = run_call(srv.uri, "quiet hangup", record=record, max_seconds=60)
    assert t["answered"], t
    offered = _OFFERED.findall(srv.log())
    assert len(offered) == before + 1, offered
    call_id, version = offered[-1]
    detail = _stored(srv, call_id)
    assert detail.flow_version == int(version)
    return version, ivr_said(detail)[0]


def _first_prompt_seconds(wav: Path) -> float:
    """How long the first prompt in a caller's recording lasts: loud 20 ms frames until 800 ms of quiet."""
    audio = read_wav(wav)
    pcm, frame = audio.data, audio.rate // 50 * 2  # bytes in 20 ms
    loud = [rms_dbfs(pcm[i : i + frame]) > -40.0 for i in range(0, len(pcm) - frame + 1, frame)]
    start = loud.index(True)
    end = start
    for i in range(start, len(loud)):
        if loud[i]:
            end = i
        elif i - end >= 40:
            break
    return (end + 1 - start) / 50


def _server_prompt_seconds(web: WebServer, *texts: str) -> list[float]:
    """How long each prompt lasts as the server synthesized it: read through its own prompt cache (all hits)."""

    assert web.prompts is not None

    async def read() -> list[float]:
        async with await CachedSynthesizer.open(TtsConfig(), web.prompts) as voice:
            seconds = [len(await voice.say(text, 16000)) / 32000 for text in texts]  # PCM16 at 16 kHz
            assert voice.cache.stats.misses == 0, voice.cache.stats  # the server's audio, not a new synthesis
            return seconds

    with ThreadPoolExecutor(1) as pool:  # asyncio.run needs a thread without Playwright's loop
        return pool.submit(asyncio.run, read()).result()
