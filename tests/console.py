"""A console app over a real SQLite store, with one user per role, for API tests (pytest-aiohttp)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiohttp import CookieJar, web
from aiohttp.test_utils import TestClient

from ivr.core.config import WebConfig
from ivr.session.links import TranscriptLinks
from ivr.storage import CallStore
from ivr.web import build_app
from ivr.web.context import WebContext
from ivr.web.passwords import ROLES, hash_password

PASSWORD = "correct horse battery"
DEMO_FLOW = Path(__file__).resolve().parent.parent / "flows" / "acme_retail.yaml"
# Hashing costs ~50 ms; one hash for every test user keeps the suite fast.
_HASH = hash_password(PASSWORD)


@dataclass
class Console:
    """The app, its store, and a way to get a logged-in client per role."""

    app: web.Application
    store: CallStore
    client_factory: Any

    async def client(self, role: str | None = None) -> LoggedIn:
        """A client with its own cookie jar, logged in as the user `role` (None: anonymous)."""
        port = _free_port()
        # The session cookie is Secure; browsers treat http://127.0.0.1 as a secure origin, aiohttp's jar must be told.
        jar = CookieJar(unsafe=True, treat_as_secure_origin=[f"http://127.0.0.1:{port}"])
        client: TestClient = await self.client_factory(self.app, cookie_jar=jar, server_kwargs={"port": port})
        session = LoggedIn(client, "")
        await session.refresh_csrf()
        if role is not None:
            r = await session.post("/api/session", {"username": role, "password": PASSWORD})
            assert r.status == 200, await r.text()
            await session.refresh_csrf()
        return session


@dataclass
class LoggedIn:
    """A test client that sends the CSRF token with every write."""

    http: TestClient
    csrf: str

    async def refresh_csrf(self) -> None:
        """Read the session's CSRF token."""
        r = await self.http.get("/api/session")
        self.csrf = (await r.json())["csrf"]

    async def get(self, path: str, **kw: Any) -> Any:
        """GET."""
        return await self.http.get(path, allow_redirects=False, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        """POST JSON with the CSRF token."""
        return await self.send("POST", path, body, **kw)

    async def send(self, method: str, path: str, body: Any = None, *, csrf: str | None = None, **kw: Any) -> Any:
        """Any method with a JSON body and the CSRF token (or the one given)."""
        headers = {"X-CSRF-Token": self.csrf if csrf is None else csrf}
        return await self.http.request(method, path, json=body, headers=headers, allow_redirects=False, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def console_app(
    tmp_path: Path,
    client_factory: Any,
    *,
    demo_flow: bool = True,
    live: Any = None,
    desk: Any = None,
    **web_config: Any,
) -> AsyncIterator[Console]:
    """The console over a fresh SQLite store with users admin, supervisor, qa, agent (named after their role).

    With `demo_flow` the Acme demo flow is stored as version 1 and live, and its folder is where test cases are found.
    `live` is a LiveFloor for the live floor's routes (None: they answer as in a console without calls).
    `desk` is an AgentDesk for the agent desk's routes (None: likewise).
    """
    store = CallStore(f"sqlite:///{tmp_path / 'ivr.db'}", spool_dir=tmp_path / "spool", node="test")
    await store.start()
    for role in ROLES:
        await store.console.add_user(role, role=role, display_name=role.title(), password_hash=_HASH)
    if demo_flow:
        await store.console.store_version("acme_retail", DEMO_FLOW.read_text(), by="test", origin="test")
        faq = DEMO_FLOW.with_name("acme_faq.yaml").read_text()
        await store.console.store_version("acme_faq", faq, by="test", origin="test", kind="knowledge")
    config = replace(WebConfig(), **web_config)
    links = TranscriptLinks(b"console-test-secret-0123456789ab", "http://127.0.0.1", 60)
    context = WebContext(store=store, links=links, config=config, root=tmp_path, flow_dirs=(DEMO_FLOW.parent,),
                         live=live, desk=desk)  # fmt: skip
    app = build_app(context)
    try:
        yield Console(app, store, client_factory)
    finally:
        await store.close()
