"""Carry out a flow's HttpRequest with aiohttp: per-attempt timeout, retries, and always an HttpResult back.

The runner stays pure; the call session awaits `perform(request, client)` and feeds the result to the runner.
"""

from __future__ import annotations

import asyncio

import aiohttp

from ivr.core.events import HttpRequest, HttpResult

# Short pause between attempts so a business system that blipped gets a moment; callers are waiting.
RETRY_PAUSE_SECONDS = 0.1


async def perform(request: HttpRequest, client: aiohttp.ClientSession | None = None) -> HttpResult:
    """Send the request, retrying connection errors, timeouts and 5xx up to `request.retries` times."""
    own = client is None
    session = aiohttp.ClientSession() if client is None else client
    try:
        return await _attempts(request, session)
    finally:
        if own:
            await session.close()


async def _attempts(request: HttpRequest, session: aiohttp.ClientSession) -> HttpResult:
    headers = dict(request.headers)
    if request.body and "content-type" not in {k.lower() for k in headers}:
        headers["Content-Type"] = "application/json"
    error, status, body = "", 0, ""
    attempts = 0
    for attempt in range(request.retries + 1):
        attempts = attempt + 1
        if attempt:
            await asyncio.sleep(RETRY_PAUSE_SECONDS * attempt)
        try:
            async with session.request(
                request.method, request.url, headers=headers, data=request.body.encode() if request.body else None,
                timeout=aiohttp.ClientTimeout(total=request.timeout),
            ) as response:
                status, body = response.status, await response.text()
        except TimeoutError:
            error, status, body = f"no answer within {request.timeout:g} s", 0, ""
            continue
        except aiohttp.ClientError as exc:
            error, status, body = f"{type(exc).__name__}: {exc}", 0, ""
            continue
        if status < 500:
            return HttpResult(request.call_id, request_id=request.request_id, status=status, body=body,
                              error="" if status < 400 else f"HTTP {status}", attempts=attempts)
        error = f"HTTP {status}"
    return HttpResult(request.call_id, request_id=request.request_id, status=status, body=body, error=error,
                      attempts=attempts)
