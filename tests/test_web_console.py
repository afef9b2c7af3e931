"""The console's foundation against a real SQLite store: login, sessions, CSRF, roles, audit, OpenAPI."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from ivr.web.app import API
from ivr.web.passwords import ROLES, verify_password
from ivr.web.throttle import LoginThrottle
from tests.console import PASSWORD, Console, console_app


@pytest.fixture
async def console(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Console]:
    async for c in console_app(tmp_path, aiohttp_client):
        yield c


async def _audit(console: Console, action: str) -> list[Any]:
    lines, _ = await console.store.console.list_audit(action=action)
    return lines


async def test_login_sets_a_secure_http_only_same_site_cookie_that_expires(console: Console) -> None:
    c = await console.client()
    r = await c.post("/api/session", {"username": "supervisor", "password": PASSWORD})
    assert r.status == 200
    assert (await r.json())["role"] == "supervisor"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie
    assert re.search(r"Max-Age=28800", cookie), cookie
    assert [x.actor for x in await _audit(console, "login")] == ["supervisor"]


async def test_wrong_password_fails_and_is_audited_and_throttled_per_user(console: Console) -> None:
    c = await console.client()
    for _ in range(5):
        r = await c.post("/api/session", {"username": "qa", "password": "wrong password!"})
        assert r.status == 401
        assert (await r.json())["error"] == "wrong user name or password"
    r = await c.post("/api/session", {"username": "qa", "password": PASSWORD})  # even the right one waits now
    assert r.status == 429
    assert "try again in" in (await r.json())["error"]
    assert len(await _audit(console, "login.failed")) == 5
    assert len(await _audit(console, "login.throttled")) == 1
    other = await c.post("/api/session", {"username": "agent", "password": PASSWORD})  # other users may log in
    assert other.status == 200


async def test_unknown_user_is_the_same_error_as_a_wrong_password(console: Console) -> None:
    c = await console.client()
    r = await c.post("/api/session", {"username": "nobody", "password": PASSWORD})
    assert r.status == 401 and (await r.json())["error"] == "wrong user name or password"


def test_throttle_per_address_counts_across_user_names_and_forgets_after_the_window() -> None:
    now = [1000.0]
    t = LoginThrottle(per_user=5, per_address=3, window_seconds=60, clock=lambda: now[0])
    for name in ("a", "b", "c"):
        assert t.retry_after(name, "10.0.0.9") == 0
        t.failed(name, "10.0.0.9")
    assert t.retry_after("d", "10.0.0.9") == pytest.approx(60)
    assert t.retry_after("d", "10.0.0.10") == 0
    now[0] += 61
    assert t.retry_after("d", "10.0.0.9") == 0


async def test_logout_ends_the_session(console: Console) -> None:
    c = await console.client("admin")
    assert (await c.get("/api/users")).status == 200
    r = await c.send("DELETE", "/api/session")
    assert r.status == 200
    r = await c.get("/api/users")
    assert r.status == 401
    assert "log in" in (await r.json())["error"]
    assert [x.actor for x in await _audit(console, "logout")] == ["admin"]


async def test_forged_cookie_is_not_a_session(console: Console) -> None:
    c = await console.client()
    c.http.session.cookie_jar.update_cookies({"ivr_session": "gAAAAABforgedforgedforged"})
    r = await c.get("/api/users")
    assert r.status == 401
    page = await c.get("/users")
    assert page.status == 302 and page.headers["Location"].startswith("/login?next=")


async def test_idle_session_expires(tmp_path: Path, aiohttp_client: Any) -> None:
    async for console in console_app(tmp_path, aiohttp_client, idle_minutes=0.5 / 60):
        c = await console.client("admin")
        assert (await c.get("/api/users")).status == 200
        await asyncio.sleep(0.7)
        r = await c.get("/api/users")
        assert r.status == 401


async def test_writes_need_the_sessions_csrf_token(console: Console) -> None:
    c = await console.client("admin")
    body = {"username": "newbie", "role": "qa", "password": "long enough password"}
    assert (await c.send("POST", "/api/users", body, csrf="")).status == 403
    r = await c.send("POST", "/api/users", body, csrf="not-the-token")
    assert r.status == 403
    assert "CSRF" in (await r.json())["error"]
    assert (await c.post("/api/users", body)).status == 201
    other = await console.client("supervisor")  # another session's token is not this session's
    assert (await c.send("PATCH", "/api/users/newbie", {"role": "agent"}, csrf=other.csrf)).status == 403


async def test_login_form_needs_csrf_and_goes_back_where_the_user_was_heading(console: Console) -> None:
    c = await console.client()
    page = await c.get("/login?next=/users")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token
    bad = await c.http.post("/login?next=/users", data={"username": "admin", "password": PASSWORD},
                            allow_redirects=False)  # fmt: skip
    assert bad.status == 403
    ok = await c.http.post("/login?next=/users", allow_redirects=False,
                           data={"username": "admin", "password": PASSWORD, "csrf_token": token.group(1)})  # fmt: skip
    assert ok.status == 302 and ok.headers["Location"] == "/users"
    form = {"username": "admin", "password": PASSWORD, "csrf_token": token.group(1)}
    stale = await c.http.post("/login?next=/users", allow_redirects=False, data=form)
    assert stale.status == 403  # logging in started a new session with a new token
    fresh = await console.client()
    form = {"username": "admin", "password": PASSWORD, "csrf_token": fresh.csrf}
    away = await fresh.http.post("/login?next=//evil.example/x", allow_redirects=False, data=form)
    assert away.headers["Location"] == "/"


async def test_admin_manages_users_and_every_change_is_audited(console: Console) -> None:
    c = await console.client("admin")
    r = await c.post("/api/users", {"username": "maria", "role": "supervisor", "password": "long enough password"})
    assert r.status == 201
    assert (await c.post("/api/users", {"username": "maria", "role": "qa", "password": "x" * 12})).status == 400
    r = await c.post("/api/users", {"username": "short", "role": "qa", "password": "short"})
    assert r.status == 400 and "10 characters" in (await r.json())["error"]
    r = await c.post("/api/users", {"username": "x", "role": "king", "password": "long enough password"})
    assert r.status == 400 and "unknown role" in (await r.json())["error"]
    r = await c.send("PATCH", "/api/users/maria", {"role": "qa", "password": "another long one"})
    assert (await r.json())["role"] == "qa"
    row = await console.store.console.get_user("maria")
    assert row is not None and verify_password(row.password_hash, "another long one")
    r = await c.send("PATCH", "/api/users/admin", {"disabled": True})
    assert r.status == 400 and "yourself" in (await r.json())["error"]
    r = await c.send("PATCH", "/api/users/maria", {"disabled": True})
    assert (await r.json())["disabled"] is True
    maria = await console.client()
    r = await maria.post("/api/session", {"username": "maria", "password": "another long one"})
    assert r.status == 401  # disabled users cannot log in
    actions = [x.action for x in (await console.store.console.list_audit())[0]]
    assert actions.count("user.create") == 1 and actions.count("user.change") == 2
    audit = await c.get("/api/audit?action=user.change")
    assert (await audit.json())["total"] == 2


async def test_disabling_a_user_ends_their_open_session(console: Console) -> None:
    sup = await console.client("supervisor")
    assert (await sup.get("/api/account")).status == 200
    admin = await console.client("admin")
    await admin.send("PATCH", "/api/users/supervisor", {"disabled": True})
    assert (await sup.get("/api/account")).status == 401


async def test_change_own_password(console: Console) -> None:
    c = await console.client("qa")
    r = await c.post("/api/account/password", {"current": "wrong", "new": "a brand new password"})
    assert r.status == 400
    r = await c.post("/api/account/password", {"current": PASSWORD, "new": "a brand new password"})
    assert r.status == 200
    again = await console.client()
    assert (await again.post("/api/session", {"username": "qa", "password": "a brand new password"})).status == 200


async def test_a_body_over_the_size_limit_is_refused(tmp_path: Path, aiohttp_client: Any) -> None:
    async for console in console_app(tmp_path, aiohttp_client, max_upload_kb=1):
        c = await console.client("admin")
        r = await c.post("/api/users", {"username": "big", "role": "qa", "password": "p" * 2000})
        assert r.status == 413
        assert "1 KB limit" in (await r.json())["error"]


async def test_a_large_body_is_read_whole(console: Console) -> None:
    """Bodies arrive in chunks (16 KB each here); a flow's YAML is bigger than one."""
    import json

    c = await console.client("admin")
    data = json.dumps({"username": "padded", "role": "qa", "password": "long enough password", "note": "x" * 60_000})

    async def slowly() -> Any:  # the body arrives in pieces, as over a real network
        for i in range(0, len(data), 8192):
            yield data[i : i + 8192].encode()
            await asyncio.sleep(0.02)

    r = await c.http.post("/api/users", data=slowly(),
                          headers={"X-CSRF-Token": c.csrf, "Content-Type": "application/json"})  # fmt: skip
    assert r.status == 201, await r.text()


def _sample(path: str) -> str:
    """A path with its parameters filled with things that exist (the demo flow, its knowledge base, a user)."""
    name = "acme_faq" if "/knowledge/" in path else "acme_retail"
    return re.sub(r"{(\w+)[^}]*}", lambda m: {"name": name, "username": "qa"}.get(m.group(1), "1"), path)


async def test_role_matrix_every_route_and_page_allows_its_roles_and_refuses_the_rest(console: Console) -> None:
    """Each role against each API route and page: allowed (neither 401 nor 403), or 403."""
    registry = console.app[API]
    # Paths name "1" for every id: call 1, taken by the agent user, is one each role may open (agents: their own).
    console.store.call_started("1", caller="<sip:1000@127.0.0.1>", flow_name="acme_retail", flow_version=1)
    console.store.call_updated("1", agent_id="agent")
    assert await console.store.flush(10)
    clients = {role: await console.client(role) for role in ROLES}
    checked = 0
    for route in registry.routes:
        for role, c in list(clients.items()):
            r = await c.send(route.method, _sample(route.path), {} if route.body else None)
            allowed = route.public or role in route.roles
            if allowed:
                assert r.status not in (401, 403), f"{role} {route.method} {route.path}: {r.status} {await r.text()}"
            else:
                assert r.status == 403, f"{role} {route.method} {route.path} should be 403, got {r.status}"
            checked += 1
            if (route.method, route.path) == ("DELETE", "/api/session"):  # that was a logout: log in again
                clients[role] = await console.client(role)
        anonymous = await (await console.client()).send(route.method, _sample(route.path), {} if route.body else None)
        assert route.public or anonymous.status == 401, f"anonymous {route.method} {route.path}"
    for page in registry.pages:
        for role, c in clients.items():
            r = await c.get(_sample(page.path))
            assert r.status == (200 if role in page.roles else 403), f"{role} GET {page.path}: {r.status}"
            checked += 1
    assert checked >= 4 * (len(registry.routes) + len(registry.pages))


async def test_an_agent_cannot_publish_a_flow(console: Console) -> None:
    registry = console.app[API]
    publishing = [r for r in registry.routes if "publish" in r.path or "rollback" in r.path]
    assert publishing, "the flows area registers publish and rollback routes"
    agent = await console.client("agent")
    for route in publishing:
        r = await agent.send(route.method, _sample(route.path), {})
        assert r.status == 403
    assert await _audit(console, "flow.publish") == []


async def test_openapi_describes_every_api_route_and_validates(console: Console) -> None:
    c = await console.client()
    doc = await (await c.get("/api/openapi.json")).json()
    validate(doc)
    registered = {
        (route.method, re.sub(r"{(\w+)[^}]*}", r"{\1}", route.resource.canonical))
        for route in console.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/") and route.method != "HEAD"
    }
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert registered <= documented, f"routes missing from the OpenAPI document: {registered - documented}"
    login = doc["paths"]["/api/session"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/LoginBody")


async def test_pages_render_for_a_browser_with_the_data_of_their_api_twin(console: Console) -> None:
    c = await console.client("admin")
    page = await c.get("/users")
    html = await page.text()
    assert page.status == 200 and "Content-Security-Policy" in page.headers
    for role in ROLES:
        assert f'data-user="{role}"' in html
    assert (await c.get("/")).headers["Location"] == "/flows"
    qa = await console.client("qa")
    assert (await qa.get("/")).headers["Location"] == "/calls"
    assert (await qa.get("/users")).status == 403
