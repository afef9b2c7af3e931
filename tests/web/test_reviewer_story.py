"""The QA reviewer's story in a real Chromium against a running `ivr serve`, on calls placed over real SIP.

Two callers ring the Acme hotline and talk: one asks for order status and reads the order number (real FSDD
recordings of spoken digits), the other asks for store hours. The reviewer finds the first call by a word of its
transcript, opens it, plays the recording and watches the highlighted turn follow the audio, then clicks a later
turn and the audio jumps there. Scoring, correcting a turn and the correction in the flow's draft follow
(tests/web/qa_review_steps.py), on the same open page.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import finish_call, start_call
from tests.e2e.test_speech_calls import order_number_wav
from tests.web import qa_review_steps as steps
from tests.web.conftest import WebServer, login, shot, wait_js

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

WORD = "three"  # said by the first caller (the order number 12345) and read back by the IVR; never in the second


def place_calls(web: WebServer, tmp_path: Path) -> list[dict[str, Any]]:
    """Two recorded calls that speak, at the same time: order status with its number, and store hours."""
    srv = web.server
    srv.wait_log("flow acme_retail version", timeout=30)
    number = order_number_wav(tmp_path)
    calls = [
        start_call(srv.uri, "quiet say order status", f"quiet play {number}", "quiet say yes", "quiet hangup",
                   max_seconds=90),
        start_call(srv.uri, "quiet say store hours", "quiet say no", "quiet hangup", max_seconds=60),
    ]  # fmt: skip
    timelines = [finish_call(c, timeout=150) for c in calls]
    assert all(t["answered"] for t in timelines), timelines
    return timelines


def find_by_word(page: Any, word: str) -> None:
    """Search the transcripts for `word` on the Calls page (the calls' rows are written as they end)."""
    page.goto("/calls")
    deadline = time.monotonic() + 30
    while True:
        page.get_by_test_id("search-text").fill(word)
        with page.expect_navigation():
            page.get_by_test_id("search-go").click()
        rows = page.locator("#calls tbody tr")
        if rows.count() == 1 and page.locator("#calls tbody tr .said mark").count():
            break
        assert time.monotonic() < deadline, f"the search for {word!r} found {rows.count()} calls"
        page.wait_for_timeout(500)
    said = rows.first.locator("td.said")
    assert word in said.locator("mark").first.inner_text().lower()
    assert rows.first.locator(".outcome").inner_text() in ("contained", "transferred")
    shot(page, "calls-search")


def open_and_play(page: Any) -> dict[str, float]:
    """Open the found call, play it, and see the highlighted turn advance with the audio. Seconds taken."""
    t0 = time.monotonic()
    page.locator("#calls tbody tr a.open").first.click()
    page.wait_for_url("**/calls/*")
    opened = time.monotonic()
    wait_js(page, "document.getElementById('waveform').dataset.ready === '1'", timeout=20)
    ready = time.monotonic()
    assert page.get_by_test_id("turn").count() >= 4
    wait_js(page, "document.getElementById('checksum').dataset.state")
    assert page.get_by_test_id("checksum").inner_text() == "checksum verified"
    page.get_by_test_id("play").click()
    wait_js(page, "window.callPage.ws.getCurrentTime() > 0", timeout=10)
    playing = time.monotonic()
    seen: list[str] = []
    deadline = time.monotonic() + 25
    while len(seen) < 3:  # the greeting, then the next turns as the audio reaches them
        uid = page.evaluate("() => document.querySelector('#turns li.turn.playing')?.dataset.uid || ''")
        if uid and (not seen or seen[-1] != uid):
            seen.append(uid)
        assert time.monotonic() < deadline, f"the highlight moved through {seen} only"
        page.wait_for_timeout(100)
    order = page.evaluate("() => [...document.querySelectorAll('#turns li.turn')].map(li => li.dataset.uid)")
    assert [order.index(u) for u in seen] == sorted(order.index(u) for u in seen)  # forward, in transcript order
    assert page.evaluate("() => window.callPage.ws.isPlaying()")
    wait_js(page, "window.flowGraph && window.flowGraph.nodes('.onpath').length >= 3")
    assert "ask_order_number" in page.get_by_test_id("path").inner_text()
    return {"page_loaded": opened - t0, "waveform_ready": ready - t0, "audio_playing": playing - t0}


def seek_by_turn(page: Any) -> None:
    """Click a turn later than the one playing: the audio jumps to where it starts and it is highlighted."""
    turns = page.get_by_test_id("turn")
    target = turns.nth(turns.count() - 2)
    start = float(target.get_attribute("data-start") or 0)
    before = page.evaluate("() => window.callPage.ws.getCurrentTime()")
    assert start > before + 2, (start, before)
    target.click()
    wait_js(page, f"Math.abs(window.callPage.ws.getCurrentTime() - {start}) < 1.5")
    assert "playing" in (target.get_attribute("class") or "")
    assert page.evaluate("() => window.callPage.ws.isPlaying()")
    target.scroll_into_view_if_needed()
    shot(page, "call-review")


def test_reviewer_finds_a_call_by_a_word_plays_it_and_seeks_by_turn(
    page: Any, browser: Any, web: WebServer, tmp_path: Path
) -> None:
    place_calls(web, tmp_path)
    login(page, "qa", next_path="/calls")
    find_by_word(page, WORD)
    times = open_and_play(page)
    print(f"\ncall page: loaded {times['page_loaded']:.2f} s, waveform {times['waveform_ready']:.2f} s, "
          f"audio playing {times['audio_playing']:.2f} s after the click on the search result")  # fmt: skip
    seek_by_turn(page)
    page.get_by_test_id("play").click()  # pause: the review goes on without sound

    # Scoring, a corrected turn and the correction in the flow's draft go on from here, on this open call page
    # (tests/web/qa_review_steps.py: define_scorecard, score_call, correct_turn, add_to_draft, reports).
    steps.define_scorecard(browser, web)
    steps.score_call(page)
    said = "is my parcel on its way yet"  # what the caller "really" said: not yet an example of order_status
    uid = steps.correct_turn(page, "order_status", said)
    steps.add_to_draft(browser, web, uid, "order_status", said)
    steps.reports(browser, web)
