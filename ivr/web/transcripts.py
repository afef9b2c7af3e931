"""GET /transcripts/{call_id}: a call's turns for whoever holds a valid signed link (no login)."""

from __future__ import annotations

import html
import logging
from datetime import datetime
from typing import Any

from aiohttp import web

from ivr.session.links import LinkError, TranscriptLinks
from ivr.storage import CallDetail, CallStore

log = logging.getLogger("ivr.web")

STORE = web.AppKey("store", CallStore)
LINKS = web.AppKey("links", TranscriptLinks)
# Writes made just before the agent clicks should show; a database outage must not hang the page.
_FLUSH_SECONDS = 1.0


async def transcript(request: web.Request) -> web.Response:
    """The call's turns as JSON, or as a page when the client prefers text/html."""
    call_id = request.match_info["call_id"]
    try:
        request.app[LINKS].verify(call_id, request.query.get("exp", ""), request.query.get("sig", ""))
    except LinkError as exc:
        raise web.HTTPForbidden(text=f"{exc}\n") from None
    store = request.app[STORE]
    await store.flush(_FLUSH_SECONDS)
    try:
        detail = await store.call_detail(call_id)
    except Exception as exc:  # the database is away: say so rather than fail with a 500
        log.warning("transcript of %s: database unavailable: %s", call_id, exc)
        raise web.HTTPServiceUnavailable(text="the call database is unavailable; try again in a minute\n") from None
    if detail is None:
        raise web.HTTPNotFound(text=f"no call {call_id}\n")
    body = as_json(detail)
    accept = request.headers.get("Accept", "")
    if "text/html" in accept and "application/json" not in accept.split(",")[0]:
        return web.Response(text=as_html(body), content_type="text/html")
    return web.json_response(body)


def as_json(detail: CallDetail) -> dict[str, Any]:
    """The JSON form of a call's transcript."""
    return {
        "call_id": detail.call_id,
        "caller": detail.caller,
        "status": detail.status,
        "started_at": _iso(detail.started_at),
        "answered_at": _iso(detail.answered_at),
        "ended_at": _iso(detail.ended_at),
        "queue": detail.queue,
        "agent_id": detail.agent_id,
        "turns": [
            {
                "speaker": t.speaker,
                "text": t.text,
                "start": t.start_offset,
                "end": t.end_offset,
                "confidence": t.confidence,
                "intent": t.intent,
                "intent_score": t.intent_score,
            }
            for t in detail.turns
        ],
        "intents": [{"name": i.name, "score": i.score, "step": i.step, "slots": i.slots} for i in detail.intents],
    }


def as_html(body: dict[str, Any]) -> str:
    """A plain, readable page of the same data."""
    e = html.escape
    rows = "\n".join(
        f"<tr><td>{_seconds(t['start'])}</td><td>{e(t['speaker'])}</td>"
        f"<td>{e(t['text'])}</td><td>{e(t['intent'] or '')}</td></tr>"
        for t in body["turns"]
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Call {e(body["call_id"])}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.3em .8em;text-align:left}}</style></head>
<body><h1>Call from {e(body["caller"])}</h1>
<p>Status: {e(body["status"])} &middot; queue: {e(body["queue"] or "-")}
 &middot; started {e(body["started_at"] or "")}</p>
<table><thead><tr><th>at</th><th>speaker</th><th>said</th><th>intent</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} s"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
