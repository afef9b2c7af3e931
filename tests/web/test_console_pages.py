"""The console's account pages in a real Chromium: log in and out, users, the audit log, expired and forged sessions."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.web.conftest import PASSWORD, BrowserProblems, WebServer, at_login, login, session_cookie, shot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def _audit_rows(page: Any, action: str) -> Any:
    """Rows of the audit table whose action is exactly `action`."""
    return page.locator("table.grid tbody tr").filter(has=page.locator("code", has_text=re.compile(f"^{action}$")))


def test_login_form_shows_a_wrong_password_and_keeps_the_user_name(
    page: Any, web: WebServer, problems: BrowserProblems
) -> None:
    problems.allowed.append("status of 401 (Unauthorized) (" + web.base + "/login?")  # the refused form post
    page.goto("/users")
    assert at_login(page, "/users"), page.url
    shot(page, "login")
    page.get_by_label("User name").fill("qa")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("alert").wait_for()
    assert page.get_by_role("alert").inner_text() == "wrong user name or password"
    assert page.get_by_label("User name").input_value() == "qa"  # only the password has to be typed again
    assert page.get_by_label("Password").input_value() == ""
    assert "/login" in page.url


def test_admin_adds_a_user_through_the_form_and_the_audit_log_shows_it(page: Any, web: WebServer, browser: Any) -> None:
    login(page, "admin", next_path="/users")
    assert page.url.endswith("/users")
    table = page.locator("#users")
    for role in ("admin", "supervisor", "qa", "agent"):
        row = table.locator(f'tr[data-user="{role}"]')
        assert row.locator("select.role").input_value() == role
        assert row.locator(".badge").inner_text() == "active"
    assert table.locator('tr[data-user="admin"] td').nth(4).inner_text().endswith("UTC")  # just logged in

    form = page.locator("#new-user")
    form.get_by_label("User name").fill("dana")
    form.get_by_label("Name", exact=True).fill("Dana Reyes")
    form.get_by_label("Role").select_option("supervisor")
    form.get_by_label("Password", exact=True).fill("dana-first-password")
    with page.expect_navigation():  # the page reloads once the API said yes
        form.get_by_role("button", name="Add user").click()
    row = table.locator('tr[data-user="dana"]')
    assert row.locator("td").nth(1).inner_text() == "Dana Reyes"
    assert row.locator("select.role").input_value() == "supervisor"
    assert row.locator("td").nth(4).inner_text() == "never"
    shot(page, "users")

    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url("**/audit")
    created = _audit_rows(page, "user.create").filter(has_text="dana")
    assert created.count() == 1
    assert created.locator("td").nth(1).inner_text() == "admin"
    assert "role: supervisor" in created.locator("td.detail").inner_text()
    assert _audit_rows(page, "login").filter(has_text="admin").count() >= 1
    assert _audit_rows(page, "user.create").filter(has_text="cli:").count() == 4  # `ivr users add` x 4
    shot(page, "audit")

    # The new user can log in with the password the admin gave, in a browser of their own.
    other = browser.new_context(viewport=page.viewport_size, base_url=web.base)
    try:
        p2 = other.new_page()
        p2.goto("/login?next=/account")
        p2.get_by_label("User name").fill("dana")
        p2.get_by_label("Password").fill("dana-first-password")
        with p2.expect_navigation():
            p2.get_by_role("button", name="Log in").click()
        assert p2.url.endswith("/account")
        assert "Logged in as dana, role supervisor." in p2.locator("main").inner_text()
    finally:
        other.close()


def test_account_page_and_logout(page: Any, web: WebServer) -> None:
    login(page, "supervisor", next_path="/account")
    main = page.locator("main")
    assert main.locator("h1").inner_text() == "Sam Supervisor"
    assert "Logged in as supervisor, role supervisor." in main.inner_text()
    nav = page.locator(".topbar nav")
    assert nav.get_by_role("link", name="Users").count() == 0  # admins' pages are not offered to supervisors
    assert nav.get_by_role("link", name="Flows").count() == 1
    shot(page, "account")

    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()
    assert page.url.endswith("/login")
    page.goto("/account")
    assert at_login(page, "/account"), page.url
    page.goto("/users")  # an admin page a supervisor could not open anyway: still the login page, not a 403
    assert "/login" in page.url


def test_a_supervisor_cannot_open_the_users_page(page: Any, web: WebServer, problems: BrowserProblems) -> None:
    problems.allowed.append("status of 403 (Forbidden) (" + web.base + "/users)")
    login(page, "supervisor", next_path="/account")
    response = page.goto("/users")
    assert response.status == 403
    assert page.locator("main .error").inner_text() == "The supervisor role cannot open Users."


def test_forged_and_expired_sessions_go_back_to_the_login_page(
    page: Any, web: WebServer, problems: BrowserProblems
) -> None:
    def set_cookie(value: str) -> None:
        page.context.clear_cookies()
        page.context.add_cookies([{"name": "ivr_session", "value": value, "url": web.base, "httpOnly": True,
                                   "secure": True, "sameSite": "Strict"}])  # fmt: skip

    set_cookie("gAAAAABforged-cookie-value-that-no-key-opens")
    page.goto("/users")
    assert at_login(page, "/users"), page.url

    now = time.time()
    for stale in ({"login_at": now - 9 * 3600, "seen": now - 60},  # older than session_hours (8)
                  {"login_at": now - 3600, "seen": now - 31 * 60}):  # idle longer than idle_minutes (30)  # fmt: skip
        set_cookie(session_cookie({"user": "admin", "csrf": "stale-token", **stale}))
        page.goto("/users")
        assert at_login(page, "/users"), (stale, page.url)

    # A fresh cookie of the same shape is accepted: the two above were refused for their age, not their form.
    set_cookie(session_cookie({"user": "admin", "csrf": "fresh-token", "login_at": now - 60, "seen": now - 60}))
    page.goto("/users")
    assert page.url.endswith("/users")

    # The session expires while the page is open: the next API call sends the browser to log in, and back.
    problems.allowed.append("status of 401")
    set_cookie(session_cookie({"user": "admin", "csrf": "fresh-token", "login_at": now - 9 * 3600, "seen": now}))
    form = page.locator("#new-user")
    form.get_by_label("User name").fill("late")
    form.get_by_label("Password", exact=True).fill("late-user-password")
    with page.expect_navigation(url=re.compile(r"/login\?next=")):
        form.get_by_role("button", name="Add user").click()
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert page.url.endswith("/users")
    assert page.locator('#users tr[data-user="late"]').count() == 0  # nothing was created by the refused call
