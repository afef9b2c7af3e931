"""Known customers first, over real SIP: a VIP caller who joins the queue second is answered first.

One agent (Ann) is busy on a call; a caller nobody knows joins the support queue, then a seeded VIP customer
(caller ID +15550100, `ivr call --user`). When Ann is free again her phone (`ivr call --listen`) rings with the
VIP, whose name and tier come in the INVITE. A customers endpoint that answers garbage costs the caller nothing.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import assert_clean_exit
from tests.e2e.harness import IvrServer, finish_call, free_port, start_call, start_server
from tests.e2e.test_agents import Desk

pytestmark = pytest.mark.e2e
ACME = {"IVR_FLOWS__DEFAULT": str(REPO / "flows/acme_retail.yaml")}
VIP = "+15550100"  # Dana Whitfield, a demo customer of tier vip (flows/customers.py)


def _one_agent(port: int) -> str:
    return f"""
[[queues]]
name = "support"
ring_timeout = 8
announce_interval = 60
wrap_up = 4            # time for the test to start Ann's phone again between calls ...
no_answer = "available"  # ... and if it is not listening yet, she is rung again, not set not ready
max_wait = 120
overflow = ""

[[agents]]
id = "ann"
name = "Ann"
sip_uri = "sip:ann@127.0.0.1:{port}"
queues = ["support"]
"""


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    port = free_port()
    srv = start_server(tmp_path_factory.mktemp("vip"), env=ACME, extra_toml=_one_agent(port))
    yield Desk(srv, port)
    assert_clean_exit(srv)


def _caller(srv: IvrServer, user: str) -> Any:
    """A caller who presses 0 for an agent and stays on the line until the IVR ends the call."""
    return start_call(srv.uri, "1.5 dtmf 0", max_seconds=90, extra=("--user", user))


def test_a_vip_who_arrives_second_is_answered_first(desk: Desk) -> None:
    since = datetime.now(UTC)
    srv = desk.srv
    busy = desk.agent(desk.ann, "20.0 hangup")  # Ann takes a first call and is busy with it for 20 s
    first = _caller(srv, "+15550103")  # Tom Becker, a standard customer
    srv.wait_log("connected to agent ann", timeout=30)
    normal = _caller(srv, "caller")  # nobody we know
    srv.wait_log("joins queue support (priority 0)", timeout=30, count=2)
    vip = _caller(srv, VIP)
    srv.wait_log("joins queue support (priority 10)", timeout=30)

    b = finish_call(busy, timeout=60)
    assert b["answered"] and b["headers"]["X-IVR-Customer"] == "Tom Becker"
    assert b["headers"]["X-IVR-Customer-Tier"] == "standard"

    # Ann's phone again, during her wrap-up: the next call she gets is the VIP's.
    second = desk.agent(desk.ann, "1.0 hangup")
    s = finish_call(second, timeout=60)
    assert s["answered"], s
    assert (s["headers"]["X-IVR-Caller"], s["headers"]["X-IVR-Customer"], s["headers"]["X-IVR-Customer-Id"],
            s["headers"]["X-IVR-Customer-Tier"]) == (VIP, "Dana Whitfield", "C1001", "vip")  # fmt: skip
    third = desk.agent(desk.ann, "1.0 hangup")
    t = finish_call(third, timeout=60)
    assert t["answered"] and t["headers"]["X-IVR-Caller"] == "caller"
    assert not any(h.startswith("X-IVR-Customer") for h in t["headers"])  # not a customer: no customer headers
    for proc in (first, normal, vip):
        assert finish_call(proc)["answered"]

    # The record: the normal caller was enqueued first, the VIP answered first.
    vip_call, normal_call = s["headers"]["X-IVR-Call-ID"], t["headers"]["X-IVR-Call-ID"]
    events = {cid: {kind: at for at, kind, _, _ in desk.detail(cid).queue_events} for cid in (vip_call, normal_call)}
    assert events[normal_call]["enqueued"] < events[vip_call]["enqueued"]
    assert events[vip_call]["enqueued"] < events[vip_call]["answered"] < events[normal_call]["answered"]
    busy_ended = desk.detail(b["headers"]["X-IVR-Call-ID"]).ended_at
    assert busy_ended is not None and events[vip_call]["enqueued"] < busy_ended  # both waited while Ann was busy
    detail = desk.detail(vip_call)
    assert ("ivr", "Welcome back, Dana Whitfield.") in [(t.speaker, t.text) for t in detail.turns]
    assert desk.stats(since).answered == 3


class _Garbage(http.server.BaseHTTPRequestHandler):
    """A customers endpoint that answers an HTML error page with status 200."""

    hits: list[str] = []

    def do_GET(self) -> None:
        _Garbage.hits.append(self.path)
        body = b"<html><body>Service temporarily unavailable</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_customers_endpoint_that_answers_garbage_leaves_the_vip_served_as_anyone(tmp_path: Path) -> None:
    crm = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=crm.serve_forever, daemon=True).start()
    port = free_port()
    env = {**ACME, "IVR_CUSTOMERS__SOURCE": "http",
           "IVR_CUSTOMERS__URL": f"http://127.0.0.1:{crm.server_port}/customers?phone={{number}}"}  # fmt: skip
    srv = start_server(tmp_path / "srv", env=env, extra_toml=_one_agent(port))
    try:
        desk = Desk(srv, port)
        ann = desk.agent(port, "1.0 hangup")
        started = time.monotonic()
        caller = _caller(srv, VIP)
        a, c = finish_call(ann, timeout=60), finish_call(caller, timeout=60)
        assert a["answered"] and c["answered"]
        assert time.monotonic() - started < 30
        assert a["headers"]["X-IVR-Caller"] == VIP
        assert not any(h.startswith("X-IVR-Customer") for h in a["headers"])  # nobody was identified
        assert _Garbage.hits == ["/customers?phone=15550100"]  # the caller's number, in its normal form
        log = srv.log()
        assert "joins queue support (priority 0)" in log  # served at the normal priority
        assert "lookup in customers failed: customer endpoint http://127.0.0.1:" in log
        assert "not a JSON object" in log
    finally:
        crm.shutdown()
        crm.server_close()
        assert_clean_exit(srv)
