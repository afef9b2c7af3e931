"""Browser tests: a real `ivr serve` on the Acme hotline, one user per role, and Debian's headless Chromium.

Playwright's pip wheel brings only its driver; the browser is the system's /usr/bin/chromium (never downloaded).
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import REPO, skip_unless_ci
from tests.e2e.conftest import assert_clean_exit
from tests.e2e.harness import IVR, IvrServer, start_server

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "docs" / "screenshots"
VIEWPORT = {"width": 1400, "height": 900}
ROLES = ("admin", "supervisor", "qa", "agent")
NAMES = {"admin": "Ada Admin", "supervisor": "Sam Supervisor", "qa": "Quinn Reviewer", "agent": "Alex Agent"}
PASSWORD = "browser-test-password"  # every role's user; 10+ characters as the console requires
SECRET = "browser-tests-secret-0123456789abcdef"  # [web] secret, so a test can build an expired session cookie
# No first-run UI, no background downloads, no GPU: the browser only talks to the server under test.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the console in a real headless Chromium")


@dataclass
class WebServer:
    """The running server and the console's base URL."""

    server: IvrServer
    base: str
    prompts: Path | None = None  # the server's prompt cache ([tts] cache_dir), when the test set it
    users: dict[str, str] = field(default_factory=dict)  # role -> user name

    def ivr(self, *args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run an `ivr` command against this server's config and database."""
        cmd = [*IVR, *args[:2], "--config", str(self.server.root / "config.toml"), *args[2:]]
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout,
                              cwd=self.server.root, env=self.server.env)  # fmt: skip


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[WebServer]:
    """`ivr serve` on the Acme hotline (its console on a free port) with users admin, supervisor, qa and agent."""
    # Prompts are kept between runs, as a deployment keeps var/prompts: entries are named by the text, voice and
    # engine version, so a kept one is what the TTS would say now; a cold start pre-warms all 24 steps and the FAQ.
    cache = getattr(pytestconfig, "cache", None)  # None under -p no:cacheprovider: prompts made afresh
    prompts = cache.mkdir("ivr-web-prompts") if cache is not None else tmp_path_factory.mktemp("prompts")
    env = {"IVR_FLOWS__DEFAULT": str(REPO / "flows/acme_retail.yaml"), "IVR_WEB__SECRET": SECRET,
           "IVR_PASSWORD_STDIN": "1", "IVR_TTS__CACHE_DIR": str(prompts)}  # fmt: skip
    srv = start_server(tmp_path_factory.mktemp("web"), workers=1, kamailio=False, env=env)
    try:
        ws = WebServer(srv, f"http://127.0.0.1:{srv.web_port}", prompts)
        config = str(srv.root / "config.toml")
        procs = [_start_users_add(role, config, srv) for role in ROLES]
        for role, proc in zip(ROLES, procs, strict=True):
            out, err = proc.communicate(PASSWORD + "\n", timeout=60)
            assert proc.returncode == 0 and f"user {role} ({role}) created" in out, (out, err)
            ws.users[role] = role
        yield ws
    finally:
        assert_clean_exit(srv)


def _start_users_add(role: str, config: str, srv: IvrServer) -> subprocess.Popen[str]:
    args = [*IVR, "users", "add", role, "--config", config, "--role", role, "--display-name", NAMES[role]]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=srv.root, env=srv.env)  # fmt: skip


# Per module, not per session: while Playwright's sync API is open its event loop counts as running in this thread,
# so an asyncio test that a pytest-xdist worker runs after a browser module would fail with "cannot be called from
# a running event loop".
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (missing browser: skip, or fail under CI=true)."""
    if not CHROMIUM.exists():
        skip_unless_ci("Debian's chromium is not installed (scripts/setup installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_unless_ci("the playwright package is missing (scripts/setup --test installs it)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class BrowserProblems:
    """What went wrong inside the page: script errors, console errors (CSP violations among them), failed loads."""

    lines: list[str] = field(default_factory=list)
    # Substrings a test expects (e.g. a 401 it provoked). The app has no favicon yet, so Chromium's own request for
    # one is a 404 on every page; that is the browser's request, not the page's.
    allowed: list[str] = field(default_factory=lambda: ["/favicon.ico)"])
    refused: list[str] = field(default_factory=list)  # API answers 400 and up with their messages, to explain a failure

    def unexpected(self) -> list[str]:
        """Problems no test said it expected."""
        return [x for x in self.lines if not any(a in x for a in self.allowed)]


@pytest.fixture
def problems() -> BrowserProblems:
    """The page's problems; a test that provokes one on purpose adds it to `allowed`."""
    return BrowserProblems()


@pytest.fixture
def page(browser: Any, web: WebServer, problems: BrowserProblems) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page at 1400x900; the test fails on any unexpected page error."""
    context = browser.new_context(viewport=VIEWPORT, base_url=web.base, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(15_000)
    pg = context.new_page()
    pg.on("pageerror", lambda exc: problems.lines.append(f"script error: {exc}"))
    pg.on("console", lambda msg: problems.lines.append(f"console {msg.type}: {msg.text} ({msg.location.get('url')})")
          if msg.type == "error" else None)  # fmt: skip
    pg.on("response", lambda r: problems.refused.append(f"{r.status} {r.request.method} {r.url}: {r.text()[:300]}")
          if r.status >= 400 and "/api/" in r.url else None)  # fmt: skip
    yield pg
    context.close()
    unexpected = problems.unexpected()
    assert not unexpected, "\n".join(["the page reported problems:", *unexpected, "API refusals:", *problems.refused])


def login(page: Any, role: str, *, password: str = PASSWORD, next_path: str = "") -> None:
    """Log in as the user of `role` through the real login form and wait to land on the next page."""
    page.goto("/login" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("User name").fill(role)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert "/login" not in page.url, page.locator(".error").all_inner_texts()


def at_login(page: Any, next_path: str) -> bool:
    """True when the page is the login form, set to return to `next_path` afterwards."""
    url = urlsplit(page.url)
    return url.path == "/login" and parse_qs(url.query).get("next") == [next_path]


def wait_js(page: Any, expression: str, timeout: float = 15.0) -> Any:
    """Poll a JavaScript expression until it is truthy (page.wait_for_function evaluates strings, which the console's
    Content-Security-Policy forbids; page.evaluate goes through the DevTools protocol instead)."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(f"() => {expression}")
        if value:
            return value
        assert time.monotonic() < deadline, f"{expression} stayed false for {timeout} s"
        page.wait_for_timeout(100)


def shot(page: Any, name: str) -> Path:
    """Save the page as docs/screenshots/<name>.png (the viewport, 1400x900) once it has settled."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready")
    page.locator("#toast").evaluate("t => t.className = ''")  # a fading message makes the shot look half-done
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled", caret="hide")
    return path


def session_cookie(data: dict[str, Any], *, created: int | None = None) -> str:
    """An ivr_session cookie the server will decrypt, holding `data` (for expiry tests: sessions the server made
    long ago cannot be waited for in a test)."""
    from cryptography.fernet import Fernet

    from ivr.session.links import TranscriptLinks

    key = TranscriptLinks(SECRET.encode(), "http://127.0.0.1", 60).derive_key("session-cookie")[:32]
    body = {"created": int(time.time()) if created is None else created, "session": data}
    return Fernet(base64.urlsafe_b64encode(key)).encrypt(json.dumps(body).encode()).decode()
