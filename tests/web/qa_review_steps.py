"""Steps of the reviewer's story in Chromium after the call is found and played: define a scorecard (supervisor), score
the call and correct a caller turn (reviewer), add the correction to the flow's draft (supervisor), and the reports.

Called from tests/web/test_reviewer_story.py with the reviewer's page open on the call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.web.conftest import VIEWPORT, WebServer, login, shot, wait_js

CARD = "Hotline quality"
# The criteria a reviewer answers for the call: (label, kind, weight, N/A allowed, fatal) per section.
SECTIONS = {
    "Understanding": [("Understood the caller's first request", "yes_no", 2, False, True),
                      ("Asked again at most once", "yes_no", 1, True, False)],
    "Outcome": [("Caller got what they called for", "scale", 3, False, False)],
}  # fmt: skip
ANSWERS = {"understood_the_caller_s_first_request": "yes", "asked_again_at_most_once": "na",
           "caller_got_what_they_called_for": "4"}  # fmt: skip
# (2 * 1 + 3 * 0.75) / 5 with the N/A criterion left out
EXPECTED_SCORE = 85.0


@contextmanager
def as_role(browser: Any, web: WebServer, role: str) -> Iterator[Any]:
    """A second browser (own cookies) logged in as `role`; any script or console error on its pages fails the test."""
    context = browser.new_context(viewport=VIEWPORT, base_url=web.base, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"script error: {exc}"))
    page.on("console", lambda m: errors.append(f"console: {m.text} ({m.location.get('url')})")
            if m.type == "error" and "/favicon.ico" not in str(m.location.get("url")) else None)  # fmt: skip
    login(page, role)
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors


def define_scorecard(browser: Any, web: WebServer) -> None:
    """The supervisor makes a two-section scorecard on the Scorecards page (the reviewer cannot)."""
    with as_role(browser, web, "supervisor") as sup:
        sup.goto("/scorecards")
        sup.locator("#new-card").click()
        form = sup.locator("#card-editor")
        form.locator("input[name=name]").fill(CARD)
        form.locator("input[name=pass_mark]").fill("80")
        for i, (title, criteria) in enumerate(SECTIONS.items()):
            if i:
                sup.locator("#add-section").click()
            section = form.locator(".section").nth(i)
            section.locator("input.title").fill(title)
            for j, (label, kind, weight, na, fatal) in enumerate(criteria):
                if j:
                    section.get_by_role("button", name="Add criterion").click()
                row = section.locator("tr.crit").nth(j)
                row.locator("input.label").fill(label)
                row.locator("select.type").select_option(kind)
                row.locator("input.weight").fill(str(weight))
                row.locator("input.na").set_checked(na)
                row.locator("input.fatal").set_checked(fatal)
        with sup.expect_navigation():
            sup.locator("#save-card").click()
        row = sup.locator("#cards tr[data-card]", has_text=CARD)
        assert row.locator("td").nth(2).inner_text() == "3"  # criteria
        row.locator(".open").click()
        shot(sup, "scorecards")


def score_call(page: Any) -> None:
    """The reviewer scores the open call on the card, a comment per criterion, and sees the score."""
    page.reload()
    panel = page.locator("#qa-review")
    panel.locator("#score-form").wait_for()
    panel.locator("#score-card").select_option(label=CARD)
    for criterion, value in ANSWERS.items():
        row = panel.locator(f".criterion[data-criterion={criterion}]")
        row.locator(f"input[type=radio][value='{value}']").check()
        row.locator(".crit-comment").fill(f"checked at {value}")
    panel.locator("#score-comment").fill("Found the order on the first try.")
    panel.locator("#score-save").click()
    live = panel.locator("#score-live")
    live.filter(has_text=f"Score {EXPECTED_SCORE:.1f}").wait_for()
    review = panel.locator("details.review[data-reviewer=qa]")
    assert review.locator(".score").inner_text() == f"{EXPECTED_SCORE:.1f}"
    assert "passed" in review.inner_text()


def correct_turn(page: Any, intent: str, said: str) -> str:
    """The reviewer corrects the call's first spoken caller turn: what was really said, the intent meant. Its uid."""
    rows = page.locator("#turn-verdicts tbody tr[data-turn]")
    rows.first.wait_for()
    spoken = [r for r in rows.all() if not r.locator("td").nth(1).inner_text().startswith("[keys]")]
    assert spoken, [r.inner_text() for r in rows.all()]
    row = spoken[0]
    uid = str(row.get_attribute("data-turn"))
    row.locator("button.correct").click()
    editor = page.locator("tr.correction-editor")
    editor.locator("select.intent").select_option(intent)
    editor.locator("input.said").fill(said)
    assert editor.locator("input.misheard").is_checked()  # typing other words marks the turn misrecognized
    editor.get_by_role("button", name="Save correction").click()
    verdict = page.locator(f"#turn-verdicts tr[data-turn='{uid}'] td.verdict")
    verdict.filter(has_text=f"→ {intent}").wait_for()
    page.locator("#qa-review").scroll_into_view_if_needed()
    shot(page, "scorecard")
    return uid


def add_to_draft(browser: Any, web: WebServer, uid: str, intent: str, said: str) -> None:
    """The supervisor sees the correction ready to add, adds it to the flow's draft in one click, and finds it there."""
    with as_role(browser, web, "supervisor") as sup:
        sup.goto("/corrections?flow=acme_retail")
        row = sup.locator(f"#corrections tr[data-turn='{uid}']")
        assert "ready to add" in row.inner_text() and said in row.inner_text()
        row.locator("input.pick").check()
        sup.locator("#apply").click()
        applied = sup.locator("#applied")
        applied.filter(has_text="Added to the draft").wait_for()
        assert f"{intent}: “{said}”" in applied.inner_text()
        assert "in draft" in row.inner_text()
        sup.locator("#confusion-intents").wait_for()
        shot(sup, "corrections")
        detail = sup.evaluate("async () => await window.ivr.api('GET', '/api/flows/acme_retail')")
        draft = detail["draft"]["source"]
        assert f"      - {said}" in draft.splitlines(), "the phrase is in the intent's examples of the draft"
        sup.goto("/flows/acme_retail")
        wait_js(sup, "window.flowPage && window.flowPage.checked")
        assert sup.get_by_test_id("discard-draft").is_visible()  # the flow page opens on the draft
        # The server is shared with the supervisor's story, which edits the live text by line numbers: leave no draft.
        discard = "async (revision) => await window.ivr.api('DELETE', '/api/flows/acme_retail/draft', {revision})"
        sup.evaluate(discard, detail["draft"]["revision"])


def reports(browser: Any, web: WebServer) -> None:
    """The reports of the calls just made: volume, and the reply latency each call measured and stored."""
    with as_role(browser, web, "supervisor") as sup:
        sup.goto("/reports/latency")
        replies = sup.locator("table[data-table=days] tbody tr").last
        assert replies.locator("td").nth(0).inner_text() == "all"
        assert int(replies.locator("td").nth(1).inner_text()) > 0, "the calls' replies stored their latency"
        sup.goto("/reports/qa?group=agent")
        sup.locator("table[data-table=rows] tbody tr").first.wait_for()
        sup.goto("/reports/volume")
        sup.locator("#charts svg.bars").wait_for()
        shot(sup, "reports")
