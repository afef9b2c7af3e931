"""The aiohttp application and its server; typed app state, started and stopped by `ivr serve`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ivr.core.errors import IvrError
from ivr.web import auth, users
from ivr.web.api import EVERYONE, Api, ApiCall
from ivr.web.context import CONTEXT, WebContext
from ivr.web.transcripts import LINKS, STORE, transcript

log = logging.getLogger("ivr.web")

HERE = Path(__file__).parent
API = web.AppKey("api", Api)

meta = Api()


@meta.route("GET", "/api/openapi.json", roles=EVERYONE, public=True, summary="Describe this API (OpenAPI 3.1)",
            tag="meta")  # fmt: skip
async def openapi(call: ApiCall) -> dict[str, Any]:
    """The OpenAPI document of every /api/ route, generated from their models."""
    return call.request.app[API].openapi()


def build_app(ctx: WebContext) -> web.Application:
    """The console: pages and /api/ for every area, login, static files, /healthz and the transcript links."""
    app = web.Application(client_max_size=ctx.config.max_upload_kb * 1024 + 4096)
    app[CONTEXT] = ctx
    app[STORE] = ctx.store
    app[LINKS] = ctx.links
    from ivr.web.session import install_sessions

    install_sessions(app, ctx.links.derive_key("session-cookie"), max_age=int(ctx.config.session_hours * 3600),
                     secure=ctx.config.secure_cookies)  # fmt: skip
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": str}
    env.filters["when"] = _when
    env.globals["static"] = lambda name: app.router["static"].url_for(filename=name)
    whole = Api.combine(meta, auth.api, users.api, *_areas())
    app[API] = whole
    auth.install(app)
    whole.install(app)
    app.router.add_get("/", home)
    app.router.add_get("/healthz", healthz)
    from ivr.web.metrics import add_metrics_route

    add_metrics_route(app)
    app.router.add_get("/transcripts/{call_id}", transcript)
    app.router.add_static("/static/", HERE / "static", append_version=True, name="static")
    app.middlewares.append(_security_headers)
    return app


def _areas() -> list[Api]:
    """The console's areas beyond accounts (each module owns its routes and pages)."""
    from ivr.web import (
        agent_desk,  # the agent desktop
        agents_admin,  # agents and queues, managed in the console
        callbacks,  # callers who chose a callback; closing the failed ones
        customers,  # known customers, found by caller ID (VIPs first)
        flows,
        knowledge,
        live,
        qa_call,
        qa_corrections,
        qa_privacy,
        qa_scores,
        qa_search,
        reports,
        tasks,  # follow-up tasks from low survey scores
    )

    return [flows.api, knowledge.api, qa_search.api, qa_call.api, qa_privacy.api, qa_scores.api, qa_corrections.api,
            reports.api, live.api, agent_desk.api, agents_admin.api, tasks.api, callbacks.api,
            customers.api]  # fmt: skip


def _when(value: str | None) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM UTC' (pages show UTC; the scripts show local time)."""
    if not value:
        return "never"
    return value[:16].replace("T", " ") + " UTC"


async def home(request: web.Request) -> web.StreamResponse:
    """Send each role to its main page."""
    from ivr.web.session import current_user, login_redirect

    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    target = {"admin": "/flows", "supervisor": "/flows", "qa": "/calls", "agent": "/desk"}.get(user.role, "/account")
    raise web.HTTPFound(target)


@web.middleware
async def _security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.content_type == "text/html":
        # Everything the pages use is served by this app; nothing may load from another origin.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self' 'unsafe-inline';"
            " script-src 'self'; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'",
        )
    return response


async def healthz(request: web.Request) -> web.Response:
    """Liveness for load balancers and operators: ok, plus whether the database is reachable."""
    store = request.app[STORE]
    return web.json_response({"status": "ok", "database": store.available, "write_backlog": store.backlog})


class WebServer:
    """Runs an app on host:port until stopped."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app, self.host, self.port = app, host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Bind and serve; a port in use is an IvrError that says how to fix it."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self.host, self.port).start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise WebError(
                f"cannot serve the web app on {self.host}:{self.port} ({exc.strerror or exc}); "
                "change [web] port or stop what is using it"
            ) from exc
        log.info("web console on http://%s:%d", self.host, self.port)
        await _first_admin_hint(self.app)

    async def stop(self) -> None:
        """Stop serving (open requests get a moment to finish)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def _first_admin_hint(app: web.Application) -> None:
    """With no users there is no way in (and no default password): say how to create the first admin."""
    try:
        users = await app[CONTEXT].store.console.count_users()
    except Exception as exc:  # the database may be away at start-up; the calls still run
        log.warning("cannot count console users (%s); the console needs the database", exc)
        return
    if users == 0:
        hint = (
            "the web console has no users yet. Create the first admin with:\n"
            "    ivr users add admin --role admin\n"
            "(it asks for a password; there is no default password)"
        )
        log.warning("%s", hint)  # on the terminal (stderr) beside the other start-up lines; stdout keeps the ready line


class WebError(IvrError):
    """The web app cannot start."""
