"""The http step against a real aiohttp server on 127.0.0.1: results, retries, timeouts, and the runner."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from flows.http_step import perform
from flows.loader import load_flow_text
from flows.runner import FlowRunner
from ivr.core.events import HttpRequest, Say

hits: dict[str, int] = {}


async def _order(request: web.Request) -> web.Response:
    hits["order"] = hits.get("order", 0) + 1
    body = await request.json() if request.can_read_body else {}
    return web.json_response(
        {"id": request.match_info["id"], "status": "shipped", "echo": body, "agent": request.headers.get("X-Agent", "")}
    )


async def _flaky(request: web.Request) -> web.Response:
    hits["flaky"] = hits.get("flaky", 0) + 1
    if hits["flaky"] < 3:
        return web.Response(status=503)
    return web.json_response({"ok": True})


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(1.0)
    return web.json_response({})


async def _missing(request: web.Request) -> web.Response:
    return web.Response(status=404, text="no such order")


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    hits.clear()
    app = web.Application()
    app.router.add_route("*", "/orders/{id}", _order)
    app.router.add_get("/flaky", _flaky)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/missing", _missing)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


async def test_success_with_body_and_headers(base_url: str) -> None:
    request = HttpRequest(
        "c1",
        request_id="r1",
        method="POST",
        url=f"{base_url}/orders/42",
        headers=(("X-Agent", "ivr"),),
        body=json.dumps({"a": 1}),
        timeout=2,
    )
    result = await perform(request)
    assert (result.call_id, result.request_id, result.status, result.error, result.attempts) == ("c1", "r1", 200, "", 1)
    assert json.loads(result.body) == {"id": "42", "status": "shipped", "echo": {"a": 1}, "agent": "ivr"}


async def test_retries_server_errors(base_url: str) -> None:
    async with aiohttp.ClientSession() as client:
        result = await perform(HttpRequest("c1", request_id="r", url=f"{base_url}/flaky", retries=2), client)
        assert result.status == 200 and result.attempts == 3 and hits["flaky"] == 3
        hits["flaky"] = 0
        result = await perform(HttpRequest("c1", request_id="r", url=f"{base_url}/flaky", retries=1), client)
        assert result.status == 503 and result.error == "HTTP 503" and result.attempts == 2


async def test_client_errors_are_not_retried(base_url: str) -> None:
    result = await perform(HttpRequest("c1", request_id="r", url=f"{base_url}/missing", retries=3))
    assert (result.status, result.attempts, result.error, result.body) == (404, 1, "HTTP 404", "no such order")


async def test_timeout_and_refused_connection(base_url: str) -> None:
    result = await perform(HttpRequest("c1", request_id="r", url=f"{base_url}/slow", timeout=0.2, retries=1))
    assert result.status == 0 and result.error == "no answer within 0.2 s" and result.attempts == 2
    result = await perform(HttpRequest("c1", request_id="r", url="http://127.0.0.1:9/x", timeout=1, retries=0))
    assert result.status == 0 and "ClientConnectorError" in result.error


FLOW = """\
flow: crm
start: fetch
variables: {order_id: "42", base: ""}
steps:
  fetch:
    kind: http
    url: "{base}/orders/{order_id}"
    timeout: 2
    retries: 1
    map: {order.status: status}
    next: tell
    on_error: sorry
  tell:
    kind: hangup
    text: Your order is {order.status}.
  sorry:
    kind: hangup
    text: Our systems are down.
"""


async def test_runner_and_http_step_together(base_url: str) -> None:
    runner = FlowRunner(load_flow_text(FLOW))
    for base, spoken in ((base_url, "Your order is shipped."), ("http://127.0.0.1:9", "Our systems are down.")):
        state, actions = runner.start("c9", {"base": base})
        request = actions[-1]
        assert isinstance(request, HttpRequest) and request.url == f"{base}/orders/42"
        state, actions = runner.handle(state, await perform(request))
        assert [a.text for a in actions if isinstance(a, Say)] == [spoken] and state.done
