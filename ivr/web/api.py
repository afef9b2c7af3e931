"""The console's one API: typed routes whose roles, CSRF check and audit line live in one place.

A route is declared once with the pydantic models of its body, query and response. The same
declaration serves `/api/...` as JSON, feeds the generated OpenAPI document, and backs the HTML
page that renders the same data (datasette's "every page has a JSON twin").
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from ivr.web.context import CONTEXT, WebContext
from ivr.web.passwords import ROLES
from ivr.web.session import Principal, check_csrf, current_user, login_redirect

log = logging.getLogger("ivr.web")

EVERYONE = frozenset(ROLES)
STAFF = frozenset({"admin", "supervisor"})
ANONYMOUS = Principal("", "anonymous", "")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ApiError(Exception):
    """An error a user can act on: its status, a message that says what to do, and extra fields."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


class ErrorBody(BaseModel):
    """Every error response: a message that says what went wrong and how to fix it."""

    error: str


@dataclass
class ApiCall:
    """One request as a handler sees it: who asks, the parsed body and query, path parameters."""

    request: web.Request
    user: Principal
    ctx: WebContext
    body: Any = None
    query: Any = None
    params: dict[str, str] = field(default_factory=dict)

    async def audit(self, action: str, target: str = "", **detail: Any) -> None:
        """Write an audit line for this user's action (the store's write threads; failures are logged)."""
        await write_audit(self.request, self.user.username, self.user.role, action, target, detail)


Handler = Callable[[ApiCall], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    """One API route: method, path, allowed roles, models, and the handler."""

    method: str
    path: str
    handler: Handler
    roles: frozenset[str]
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    content_type: str = "application/json"  # other types: the handler returns a web.StreamResponse
    status: int = 200
    public: bool = False  # no login needed (the login route itself); CSRF is still checked on writes


@dataclass(frozen=True)
class Page:
    """An HTML page: a template over the data of one API route (or none, for a page that only has forms)."""

    path: str
    template: str
    title: str
    roles: frozenset[str]
    route: Route | None = None


class Api:
    """The registry of routes and pages; `install` adds them to an app, `openapi` describes them."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.pages: list[Page] = []
        self.on_shutdown: list[Callable[[web.Application], Awaitable[None]]] = []  # e.g. end open event streams

    def route(
        self, method: str, path: str, *, roles: frozenset[str], summary: str, tag: str,
        body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None, content_type: str = "application/json", status: int = 200,
        public: bool = False,
    ) -> Callable[[Handler], Route]:  # fmt: skip
        """Declare a handler for `method path` (path under /api/)."""
        assert path.startswith("/api/"), path

        def register(fn: Handler) -> Route:
            r = Route(method, path, fn, roles, summary, tag, body, query, response, content_type, status, public)
            self.routes.append(r)
            return r

        return register

    def page(self, path: str, template: str, *, title: str, roles: frozenset[str], route: Route | None = None) -> None:
        """An HTML page at `path` rendering `template` over `route`'s data."""
        self.pages.append(Page(path, template, title, roles if route is None else route.roles, route))

    @classmethod
    def combine(cls, *apis: Api) -> Api:
        """One registry of every area's routes and pages."""
        whole = cls()
        for a in apis:
            whole.routes.extend(a.routes)
            whole.pages.extend(a.pages)
            whole.on_shutdown.extend(a.on_shutdown)
        return whole

    def install(self, app: web.Application) -> None:
        """Add every route and page to `app`."""
        for r in self.routes:
            app.router.add_route(r.method, r.path, _json_handler(r))
        for p in self.pages:
            app.router.add_get(p.path, _page_handler(p))
        app.on_shutdown.extend(self.on_shutdown)

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document, generated from the routes' pydantic models."""
        inputs = {m for r in self.routes for m in (r.body, r.query) if m is not None}
        outputs = {r.response for r in self.routes if r.response is not None} | {ErrorBody}
        keyed = [(m, "validation") for m in sorted(inputs, key=lambda m: m.__name__)]
        keyed += [(m, "serialization") for m in sorted(outputs, key=lambda m: m.__name__)]
        found, defs = models_json_schema(keyed, ref_template="#/components/schemas/{model}")  # type: ignore[arg-type]
        refs: dict[tuple[Any, str], Any] = dict(found)  # type: ignore[arg-type]
        paths: dict[str, dict[str, Any]] = {}
        for r in self.routes:
            paths.setdefault(r.path, {})[r.method.lower()] = _operation(r, refs)
        return {
            "openapi": "3.1.0",
            "info": {"title": "ivr console API", "version": "1", "description": __doc__.strip().splitlines()[0]},
            "paths": paths,
            "components": {
                "schemas": defs.get("$defs", {}),
                "securitySchemes": {
                    "session": {"type": "apiKey", "in": "cookie", "name": "ivr_session"},
                    "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
                },
            },
        }


def _operation(r: Route, refs: Mapping[tuple[Any, str], Any]) -> dict[str, Any]:
    error = {"application/json": {"schema": refs[(ErrorBody, "serialization")]}}
    op: dict[str, Any] = {
        "summary": r.summary,
        "tags": [r.tag],
        "operationId": f"{r.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', r.path[5:].lower()).strip('_')}",
        "description": f"Roles: {', '.join(sorted(r.roles))}.",
        "security": _security(r),
        "responses": {
            "400": {"description": "invalid input", "content": error},
            "401": {"description": "not logged in, or the session expired", "content": error},
            "403": {"description": "the role may not do this, or a wrong CSRF token", "content": error},
        },
    }
    if r.content_type == "application/json":
        content = {"application/json": {"schema": refs[(r.response, "serialization")]}} if r.response else {}
    else:
        content = {r.content_type: {"schema": {"type": "string", "format": "binary"}}}
    op["responses"][str(r.status)] = {"description": "ok", "content": content} if content else {"description": "ok"}
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)", r.path)
    ]
    if r.query is not None:
        schema = r.query.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in schema.get("required", []),
                           "schema": prop})  # fmt: skip
    if params:
        op["parameters"] = params
    if r.body is not None:
        schema = refs[(r.body, "validation")]
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return op


def _security(r: Route) -> list[dict[str, list[str]]]:
    if r.public:
        return [{"csrf": []}] if r.method in STATE_CHANGING else []
    return [{"session": [], "csrf": []}] if r.method in STATE_CHANGING else [{"session": []}]


def error_response(status: int, message: str, **extra: Any) -> web.Response:
    """A JSON error body."""
    return web.json_response({"error": message, **extra}, status=status)


async def _prepare(request: web.Request, route: Route) -> ApiCall | web.StreamResponse:
    ctx = request.app[CONTEXT]
    user = await current_user(request)
    if user is None and route.public:
        user = ANONYMOUS
    if user is None:
        return error_response(401, "you are not logged in, or your session expired; log in again", login="/login")
    if not route.public and user.role not in route.roles:
        return error_response(403, f"the {user.role} role may not {route.summary.lower()}")
    if route.method in STATE_CHANGING and not await check_csrf(request):
        return error_response(403, "missing or wrong CSRF token; reload the page and try again")
    call = ApiCall(request, user, ctx, params=dict(request.match_info))
    try:
        if route.query is not None:
            call.query = route.query.model_validate(dict(request.query))
        if route.body is not None:
            limit = ctx.config.max_upload_kb * 1024
            if request.content_length is not None and request.content_length > limit:
                return error_response(413, f"the request is over the {ctx.config.max_upload_kb} KB limit")
            raw = bytearray()
            while len(raw) <= limit:  # read() returns what has arrived (often 16 KB), not the whole body
                chunk = await request.content.read(limit + 1 - len(raw))
                if not chunk:
                    break
                raw += chunk
            if len(raw) > limit:
                return error_response(413, f"the request is over the {ctx.config.max_upload_kb} KB limit")
            call.body = route.body.model_validate_json(bytes(raw) or b"{}")
    except ValidationError as exc:
        problems = [f"{'.'.join(str(x) for x in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()]
        return error_response(400, "invalid input: " + "; ".join(problems), problems=problems)
    return call


def _json_handler(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        call = await _prepare(request, route)
        if not isinstance(call, ApiCall):
            return call
        try:
            result = await route.handler(call)
        except ApiError as exc:
            return error_response(exc.status, exc.message, **exc.extra)
        if isinstance(result, web.StreamResponse):
            return result
        data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        return web.json_response(data, status=route.status, dumps=_dumps)

    return handle


def _page_handler(page: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        user = await current_user(request)
        if user is None:
            return login_redirect(request)
        if user.role not in page.roles:
            return await render(request, "forbidden.html", status=403, title="Not allowed", user=user,
                                message=f"The {user.role} role cannot open {page.title}.")  # fmt: skip
        data: Any = None
        if page.route is not None:
            call = await _prepare(request, page.route)
            if not isinstance(call, ApiCall):
                return call
            try:
                result = await page.route.handler(call)
            except ApiError as exc:
                return await render(request, "forbidden.html", status=exc.status, title=page.title, user=user,
                                    message=exc.message)  # fmt: skip
            data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        return await render(request, page.template, title=page.title, user=user, data=data,
                            api=page.route.path if page.route else "")  # fmt: skip

    return handle


async def render(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    """Render a template with the user, the CSRF token and the page's data (also as JSON for its script)."""
    from ivr.web.session import csrf_token

    context.setdefault("user", await current_user(request))
    context["csrf"] = await csrf_token(request)
    context["data_json"] = _dumps(context.get("data"))
    context["path"] = request.path
    context["query"] = dict(request.query)
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def write_audit(
    request: web.Request, actor: str, role: str, action: str, target: str, detail: dict[str, Any]
) -> None:
    """Append to the audit log; a database outage is logged, not raised (the action itself already happened)."""
    try:
        await request.app[CONTEXT].store.console.audit(
            actor=actor, role=role, action=action, target=target, detail=detail, address=request.remote or ""
        )
    except Exception as exc:  # the audit must not turn a done action into an error page
        log.error("audit line %s %s by %s not written: %s", action, target, actor, exc)


def _dumps(data: Any) -> str:
    return json.dumps(data, default=str)
