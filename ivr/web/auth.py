"""Log in and out: the login page and its JSON twin, password checks, rate limits, audit lines."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from ivr.web.api import EVERYONE, Api, ApiCall, ApiError, render, write_audit
from ivr.web.context import CONTEXT
from ivr.web.passwords import verify_password
from ivr.web.session import Principal, check_csrf, csrf_token, current_user, end_session, start_login
from ivr.web.throttle import LoginThrottle

THROTTLE = web.AppKey("login_throttle", LoginThrottle)

api = Api()


class LoginBody(BaseModel):
    """A user name and password."""

    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class SessionInfo(BaseModel):
    """Who is logged in (empty username: nobody) and the CSRF token to send with writes."""

    username: str
    role: str
    display_name: str
    csrf: str


async def attempt_login(request: web.Request, username: str, password: str) -> Principal:
    """Check a password under the rate limits; ApiError 429 or 401 on failure, with an audit line either way."""
    ctx = request.app[CONTEXT]
    throttle = request.app[THROTTLE]
    address = request.remote or ""
    wait = throttle.retry_after(username, address)
    if wait > 0:
        await write_audit(request, username, "", "login.throttled", username, {"retry_after": round(wait)})
        raise ApiError(429, f"too many failed logins; try again in {int(wait) + 1} s", retry_after=int(wait) + 1)
    row = await ctx.store.console.get_user(username)
    ok = verify_password(row.password_hash if row and not row.disabled else None, password)
    if not ok or row is None:
        throttle.failed(username, address)
        await write_audit(request, username, "", "login.failed", username, {})
        raise ApiError(401, "wrong user name or password")
    throttle.succeeded(username)
    principal = Principal(row.username, row.role, row.display_name or row.username)
    await start_login(request, principal)
    await ctx.store.console.touch_login(row.username)
    await write_audit(request, row.username, row.role, "login", row.username, {})
    return principal


async def _info(request: web.Request, user: Principal | None) -> SessionInfo:
    if user is None or not user.username:
        return SessionInfo(username="", role="", display_name="", csrf=await csrf_token(request))
    return SessionInfo(username=user.username, role=user.role, display_name=user.display_name,
                       csrf=await csrf_token(request))  # fmt: skip


@api.route("GET", "/api/session", roles=EVERYONE, public=True, summary="Show who is logged in", tag="session",
           response=SessionInfo)  # fmt: skip
async def whoami(call: ApiCall) -> SessionInfo:
    """The session's user (or nobody) and its CSRF token."""
    return await _info(call.request, await current_user(call.request))


@api.route("POST", "/api/session", roles=EVERYONE, public=True, summary="Log in", tag="session",
           body=LoginBody, response=SessionInfo)  # fmt: skip
async def login_api(call: ApiCall) -> SessionInfo:
    """Log in with a JSON body; the session cookie comes back with the response."""
    principal = await attempt_login(call.request, call.body.username, call.body.password)
    return await _info(call.request, principal)


@api.route("DELETE", "/api/session", roles=EVERYONE, summary="Log out", tag="session", response=SessionInfo)
async def logout_api(call: ApiCall) -> SessionInfo:
    """End the session."""
    await call.audit("logout", call.user.username)
    await end_session(call.request)
    return await _info(call.request, None)


async def login_page(request: web.Request) -> web.StreamResponse:
    """GET /login: the form. POST /login: check it and go where the user was heading."""
    target = _safe_next(request.query.get("next", "/"))
    if request.method == "GET":
        return await render(request, "login.html", title="Log in", user=None, next=target, error="")
    form = await request.post()
    username = str(form.get("username", ""))
    if not await check_csrf(request):
        return await render(request, "login.html", status=403, title="Log in", user=None, next=target,
                            error="The form expired. Please try again.", username=username)  # fmt: skip
    try:
        await attempt_login(request, username, str(form.get("password", "")))
    except ApiError as exc:
        return await render(request, "login.html", status=exc.status, title="Log in", user=None, next=target,
                            error=exc.message, username=username)  # fmt: skip
    raise web.HTTPFound(target)


async def logout_page(request: web.Request) -> web.StreamResponse:
    """POST /logout from the menu's form."""
    user = await current_user(request)
    if user is not None and await check_csrf(request):
        await write_audit(request, user.username, user.role, "logout", user.username, {})
        await end_session(request)
    raise web.HTTPFound("/login")


def _safe_next(target: str) -> str:
    """Only a path on this site (no //host or scheme), so the login page cannot be used to send users away."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def install(app: web.Application) -> None:
    """Add the login/logout pages, the session API and the login throttle."""
    cfg = app[CONTEXT].config
    app[THROTTLE] = LoginThrottle(per_user=cfg.login_failures_per_user, per_address=cfg.login_failures_per_address,
                                  window_seconds=cfg.login_window_minutes * 60)  # fmt: skip
    app.router.add_route("GET", "/login", login_page)
    app.router.add_route("POST", "/login", login_page)
    app.router.add_post("/logout", logout_page)


class AccountOut(BaseModel):
    """The logged-in user's own account."""

    username: str
    display_name: str
    role: str


class PasswordChange(BaseModel):
    """The current password and a new one."""

    current: str = Field(min_length=1, max_length=1024)
    new: str = Field(min_length=1, max_length=1024)


@api.route("GET", "/api/account", roles=EVERYONE, summary="Show your account", tag="session", response=AccountOut)
async def account(call: ApiCall) -> AccountOut:
    """Who you are logged in as."""
    return AccountOut(username=call.user.username, display_name=call.user.display_name, role=call.user.role)


@api.route("POST", "/api/account/password", roles=EVERYONE, summary="Change your password", tag="session",
           body=PasswordChange, response=AccountOut)  # fmt: skip
async def change_password(call: ApiCall) -> AccountOut:
    """Change your own password (the current one is checked first)."""
    from ivr.core.errors import IvrError
    from ivr.web.passwords import hash_password

    row = await call.ctx.store.console.get_user(call.user.username)
    if row is None or not verify_password(row.password_hash, call.body.current):
        raise ApiError(400, "the current password is wrong")
    try:
        new_hash = hash_password(call.body.new)
    except IvrError as exc:
        raise ApiError(400, str(exc)) from None
    await call.ctx.store.console.update_user(call.user.username, password_hash=new_hash)
    await call.audit("user.password", call.user.username)
    return AccountOut(username=call.user.username, display_name=call.user.display_name, role=call.user.role)


api.page("/account", "account.html", title="Account", roles=EVERYONE, route=account)
