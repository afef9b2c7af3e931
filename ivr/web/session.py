"""Console sessions: encrypted, HTTP-only, SameSite cookies that expire, a CSRF token each, the user behind them."""

from __future__ import annotations

import hmac
import secrets
import time
import warnings
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning
from aiohttp_session import Session, get_session, new_session
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from ivr.web.context import CONTEXT

# aiohttp-session 2.12 stores its state under str keys, which aiohttp 3.10+ warns about on every request.
warnings.filterwarnings("ignore", category=NotAppKeyWarning, module="aiohttp_session")

COOKIE = "ivr_session"
_USER = web.RequestKey("user", object)


@dataclass(frozen=True)
class Principal:
    """The logged-in user of a request."""

    username: str
    role: str
    display_name: str


def install_sessions(app: web.Application, key: bytes, *, max_age: int, secure: bool) -> None:
    """Encrypted cookie sessions (Fernet: a forged or altered cookie is an empty session) that expire."""
    storage = EncryptedCookieStorage(
        key[:32],  # raw bytes: the storage base64-encodes them into a Fernet key
        cookie_name=COOKIE,
        max_age=max_age,
        httponly=True,
        secure=secure,
        samesite="Strict",
    )
    setup_session(app, storage)


async def current_user(request: web.Request) -> Principal | None:
    """The request's user, or None when not logged in, expired, disabled or deleted (checked once per request)."""
    if _USER in request:
        return request[_USER]  # type: ignore[return-value]
    user = await _load_user(request)
    request[_USER] = user
    return user


async def _load_user(request: web.Request) -> Principal | None:
    session = await get_session(request)
    name = session.get("user")
    if not name:
        return None
    cfg = request.app[CONTEXT].config
    now = time.time()
    too_old = now - session.get("login_at", 0) > cfg.session_hours * 3600
    if too_old or now - session.get("seen", 0) > cfg.idle_minutes * 60:
        session.invalidate()
        return None
    row = await request.app[CONTEXT].store.console.get_user(name)
    if row is None or row.disabled:
        session.invalidate()
        return None
    if now - session.get("seen", 0) > 60:  # keep the idle timer sliding without re-sending the cookie every request
        session["seen"] = now
    return Principal(row.username, row.role, row.display_name or row.username)


async def start_login(request: web.Request, principal: Principal) -> None:
    """A fresh session for a user who just proved their password (a new id and CSRF token: no fixation)."""
    session = await new_session(request)
    now = time.time()
    session.update({"user": principal.username, "login_at": now, "seen": now, "csrf": secrets.token_urlsafe(32)})
    request[_USER] = principal


async def end_session(request: web.Request) -> None:
    """Log out: the cookie is cleared."""
    session = await get_session(request)
    session.invalidate()
    request[_USER] = None


async def csrf_token(request: web.Request) -> str:
    """This session's CSRF token (created for anonymous sessions too, so the login form has one)."""
    session: Session = await get_session(request)
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


async def check_csrf(request: web.Request) -> bool:
    """True when the X-CSRF-Token header (or the form's csrf_token field) matches the session's token."""
    session = await get_session(request)
    expected = session.get("csrf")
    sent = request.headers.get("X-CSRF-Token", "")
    if not sent and request.content_type == "application/x-www-form-urlencoded":
        sent = str((await request.post()).get("csrf_token", ""))
    return bool(expected) and bool(sent) and hmac.compare_digest(str(expected), sent)


def login_redirect(request: web.Request) -> web.Response:
    """Send a browser to the login page, coming back here afterwards."""
    raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='')}")
