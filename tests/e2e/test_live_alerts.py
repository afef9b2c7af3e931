"""The live floor's alerts in a running `ivr serve`: a media worker killed is a `worker_down` alert on the webhook,
cleared when the supervisor has restarted it."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import start_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server that keeps every JSON body POSTed to it."""
    bodies: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", bodies
    finally:
        server.shutdown()
        server.server_close()


def _wait(bodies: list[dict[str, Any]], status: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [b for b in bodies if b["status"] == status]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no {status} alert reached the webhook; got {bodies}")


def test_a_dead_worker_alerts_the_webhook_until_it_is_back(tmp_path: Path, webhook: tuple[str, list[Any]]) -> None:
    url, bodies = webhook
    env = {"IVR_LIVE__WEBHOOK_URL": url, "IVR_LIVE__ALERT_HOLD_SECONDS": "0.5", "IVR_LIVE__ALERT_CHECK_SECONDS": "0.2",
           "IVR_WORKERS__RESTART_DELAY_SECONDS": "3"}  # fmt: skip
    srv = start_server(tmp_path / "srv", workers=1, kamailio=False, env=env)
    try:
        (name, worker), = srv.wait_status(lambda s: len(s["workers"]) == 1)["workers"].items()
        time.sleep(1.0)  # the floor has seen every worker up (a worker still starting is not down)
        assert bodies == []
        os.kill(worker["pid"], signal.SIGKILL)
        raised = _wait(bodies, "raised")
        assert raised["kind"] == "worker_down" and raised["message"].startswith("1 of 1 media workers are down")
        srv.wait_status(lambda s: s["workers"].get(name, {}).get("pid") not in (None, worker["pid"]))
        cleared = _wait(bodies, "cleared")
        assert cleared["key"] == "worker_down" and cleared["since"] == raised["since"] and cleared["at"] > raised["at"]
        srv.wait_log("live floor alert worker_down sent to the webhook (HTTP 204)", count=2)
    finally:
        code = srv.stop()
    assert code == 0 and "Traceback" not in srv.log()  # the killed worker's exit code is logged, as it should be
    assert [b["status"] for b in bodies] == ["raised", "cleared"]
