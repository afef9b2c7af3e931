"""The aiohttp application and its server; typed app state, started and stopped by `ivr serve`."""

from __future__ import annotations

import logging

from aiohttp import web

from ivr.core.errors import IvrError
from ivr.session.links import TranscriptLinks
from ivr.storage import CallStore
from ivr.web.transcripts import LINKS, STORE, transcript

log = logging.getLogger("ivr.web")


def build_app(store: CallStore, links: TranscriptLinks) -> web.Application:
    """The web app: GET /healthz and GET /transcripts/{call_id}?exp=&sig=."""
    app = web.Application()
    app[STORE] = store
    app[LINKS] = links
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/transcripts/{call_id}", transcript)
    return app


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
        log.info("web app on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop serving (open requests get a moment to finish)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class WebError(IvrError):
    """The web app cannot start."""
