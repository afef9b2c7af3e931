"""The web app served for real on loopback: healthz, and transcripts behind signed, expiring links."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ivr.session.links import TranscriptLinks
from ivr.storage import CallStore
from ivr.web import WebServer, build_app
from ivr.web.app import WebError
from ivr.web.context import WebContext

SECRET = b"web-test-secret-0123456789abcdef"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[str, CallStore, TranscriptLinks, Clock]]:
    store = CallStore(f"sqlite:///{tmp_path / 'ivr.db'}", spool_dir=tmp_path / "spool", node="n1")
    await store.start()
    port = _port()
    clock = Clock()
    links = TranscriptLinks(SECRET, f"http://127.0.0.1:{port}", 60, clock=clock)
    server = WebServer(build_app(WebContext(store=store, links=links)), "127.0.0.1", port)
    await server.start()
    try:
        yield f"http://127.0.0.1:{port}", store, links, clock
    finally:
        await server.stop()
        await store.close()


async def test_a_signed_link_returns_the_turns_as_json_and_html(
    site: tuple[str, CallStore, TranscriptLinks, Clock],
) -> None:
    _, store, links, _ = site
    store.call_started("w0-c1", caller="sip:+15551234@pbx")
    store.call_answered("w0-c1")
    store.add_turn("w0-c1", "ivr", "Thank you for calling <Acme>.", start=0.0)
    store.add_turn("w0-c1", "caller", "[keys] 0", start=1.5, end=1.5, intent="agent", intent_score=1.0)
    url = links.url("w0-c1")  # no flush: the page itself waits for writes made before the click
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as r:
            assert r.status == 200 and r.content_type == "application/json"
            body = await r.json()
        async with http.get(url, headers={"Accept": "text/html,application/xhtml+xml"}) as r:
            assert r.status == 200 and r.content_type == "text/html"
            page = await r.text()
    assert body["call_id"] == "w0-c1" and body["caller"] == "sip:+15551234@pbx"
    assert [(t["speaker"], t["text"], t["intent"]) for t in body["turns"]] == [
        ("ivr", "Thank you for calling <Acme>.", ""),
        ("caller", "[keys] 0", "agent"),
    ]
    assert "Thank you for calling &lt;Acme&gt;." in page and "<td>agent</td>" in page


async def test_forged_expired_and_unknown_links_are_refused(
    site: tuple[str, CallStore, TranscriptLinks, Clock],
) -> None:
    base, store, links, clock = site
    store.call_started("w0-c2")
    good = links.url("w0-c2")
    async with aiohttp.ClientSession() as http:
        async with http.get(good.replace("w0-c2", "w0-c3", 1)) as r:  # someone else's call
            assert r.status == 403 and "signature" in await r.text()
        async with http.get(f"{base}/transcripts/w0-c2") as r:
            assert r.status == 403
        async with http.get(links.url("nobody")) as r:
            assert r.status == 404
        clock.now += 61
        async with http.get(good) as r:
            assert r.status == 403 and "expired" in await r.text()
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200
            assert await r.json() == {"status": "ok", "database": True, "write_backlog": 0}


async def test_a_busy_port_is_explained(site: tuple[str, CallStore, TranscriptLinks, Clock]) -> None:
    base, store, links, _ = site
    port = int(base.rsplit(":", 1)[1])
    with pytest.raises(WebError, match=r"change \[web\] port"):
        await WebServer(build_app(WebContext(store=store, links=links)), "127.0.0.1", port).start()
