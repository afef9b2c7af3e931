"""The customers page in Chromium: a supervisor finds the seeded VIPs, adds a customer, makes them VIP and searches."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import BrowserProblems, WebServer, login, shot

pytestmark = pytest.mark.browser


def test_a_supervisor_adds_a_customer_makes_them_vip_and_finds_them_by_number(
    page: Any, web: WebServer, problems: BrowserProblems
) -> None:
    login(page, "supervisor")
    page.get_by_role("link", name="Customers").click()
    page.wait_for_url("**/customers")
    dana = page.locator('tr[data-customer="C1001"]')  # seeded by ivr serve ([customers] seed_demo)
    assert dana.locator("td").first.inner_text() == "Dana Whitfield" and dana.locator(".badge.vip").count() == 1

    page.get_by_label("Name").fill("Rosa Delgado")
    page.get_by_label("Numbers").fill("+1 555 0177, +1 555 0178")
    page.get_by_label("Notes").fill("Prefers Spanish; ordering for a small shop.")
    with page.expect_navigation():  # the page reloads once the API has taken it
        page.get_by_role("button", name="Add customer").click()
        page.get_by_text("Rosa Delgado added").wait_for()
    rosa = page.locator("tr[data-customer]", has_text="Rosa Delgado")
    assert rosa.locator(".badge").inner_text() == "standard"
    assert rosa.locator("td").nth(3).inner_text() == "+1 555 0177, +1 555 0178"

    rosa.get_by_role("button", name="Edit").click()
    assert page.locator("#form-title").inner_text().startswith("Change Rosa Delgado")
    page.get_by_label("Tier").fill("vip")
    with page.expect_navigation():
        page.get_by_role("button", name="Save changes").click()
        page.get_by_text("Rosa Delgado saved").wait_for()
    rosa = page.locator("tr[data-customer]", has_text="Rosa Delgado")
    assert rosa.locator(".badge.vip").count() == 1
    assert "by supervisor" in rosa.inner_text()

    # A number that is someone else's is refused with whose it is; nothing is saved.
    problems.allowed.append("status of 400 (Bad Request) (http://127.0.0.1:")  # that refusal, on purpose
    page.get_by_label("Name").fill("Somebody Else")
    page.get_by_label("Numbers").fill("15550177")
    page.get_by_role("button", name="Add customer").click()
    page.get_by_text("already belongs to customer").wait_for()
    assert page.locator("tr[data-customer]", has_text="Somebody Else").count() == 0
    page.get_by_label("Name").fill("")
    page.get_by_label("Numbers").fill("")
    shot(page, "customers")

    page.get_by_label("Search").fill("0178")
    with page.expect_navigation():
        page.get_by_role("button", name="Search").click()
    names = page.locator("tr[data-customer] td:first-child").all_inner_texts()
    assert names == ["Rosa Delgado"]
