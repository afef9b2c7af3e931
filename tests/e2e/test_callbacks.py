"""Callbacks over real SIP: a waiting caller keeps their place, hangs up, and is called back when Ann is free.

Ann (an `ivr call --listen` phone) is first busy with another caller, so the estimated wait (one caller ahead
x 180 s handle time) passes the queue's 5 s callback threshold. The callback dials Ann first, then the
caller's number through `[callbacks] route` (another `--listen` phone standing for the caller's phone).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.storage.callbacks import CallbackStore
from tests.conftest import FSDD, REPO
from tests.e2e.conftest import assert_clean_exit
from tests.e2e.harness import finish_call, free_port, start_call, start_server
from tests.e2e.test_agents import Desk, loud_seconds

pytestmark = pytest.mark.e2e
ACME = {"IVR_FLOWS__DEFAULT": str(REPO / "flows/acme_retail.yaml")}


def _toml(ann: int) -> str:
    return f"""
[[queues]]
name = "support"
ring_timeout = 6
announce_interval = 0
wrap_up = 3
overflow = ""
no_answer = "available"
callback_threshold = 5
callback_attempts = 2
callback_interval = 4

[[agents]]
id = "ann"
name = "Ann"
sip_uri = "sip:ann@127.0.0.1:{ann}"
queues = ["support"]
"""


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    ann, home = free_port(), free_port()
    env = {**ACME, "IVR_CALLBACKS__ROUTE": f"sip:{{number}}@127.0.0.1:{home}", "IVR_CALLBACKS__RING_SECONDS": "5"}
    srv = start_server(tmp_path_factory.mktemp("callbacks"), env=env, extra_toml=_toml(ann))
    d = Desk(srv, ann)
    d.home = home  # type: ignore[attr-defined]
    yield d
    assert_clean_exit(d.srv)  # the restart test replaces the server


def _busy_ann(desk: Desk, seconds: float) -> tuple[Any, Any]:
    """Ann talks to another caller for `seconds`, so the next caller's estimated wait is long."""
    ann = desk.agent(desk.ann, f"{seconds} hangup")
    other = start_call(desk.srv.uri, "1.5 dtmf 0", max_seconds=seconds + 20)
    desk.srv.wait_log("connected to agent ann", timeout=20, count=desk.srv.log().count("connected to agent ann") + 1)
    return ann, other


def _callbacks(desk: Desk) -> list[Any]:
    return desk.query(lambda s: CallbackStore(s).rows())  # type: ignore[no-any-return]


def test_accepted_callback_rings_the_agent_then_the_caller_and_bridges_them(desk: Desk, tmp_path: Path) -> None:
    ann1, other = _busy_ann(desk, 16.0)
    home = desk.agent(desk.home, f"4.0 play {FSDD / '5_nicolas_0.wav'}", "9.0 hangup",  # type: ignore[attr-defined]
                      extra=("--record", str(tmp_path / "home.wav"), "--max-seconds", "90"))  # fmt: skip
    caller = start_call(desk.srv.uri, "1.5 dtmf 0", "+6.5 dtmf 1", "+5.0 dtmf 1", max_seconds=40,
                        extra=("--user", "5551234", "--record", str(tmp_path / "caller.wav")))  # fmt: skip
    c = finish_call(caller)
    assert c["answered"] and c["ended_by"] == "remote"  # the IVR said goodbye and hung up
    desk.srv.wait_log("callback", timeout=5)
    assert "to 5551234 accepted in queue support" in desk.srv.log()
    finish_call(ann1)
    finish_call(other)
    ann2 = desk.agent(desk.ann, "12.0 hangup", extra=("--record", str(tmp_path / "ann.wav"), "--max-seconds", "60"))
    a, h = finish_call(ann2, timeout=90), finish_call(home, timeout=90)
    assert a["answered"] and h["answered"]
    call_id = a["headers"]["X-IVR-Call-ID"]
    assert a["headers"]["X-IVR-Callback"] == "5551234" and "X-IVR-Transcript" in a["headers"]
    ann_rang = next(e["wall"] for e in a["events"] if e["event"] == "incoming")
    home_rang = next(e["wall"] for e in h["events"] if e["event"] == "incoming")
    assert ann_rang < home_rang  # the agent first, then the caller
    # Once the caller answers, Ann's intro stops and the caller's announcement is theirs alone: what Ann hears
    # then is the caller's "five" (played 4 s after they answered), which crossed the bridge.
    pcm = (tmp_path / "ann.wav").read_bytes()[44:]
    start = home_rang - ann_rang + 1.0
    assert loud_seconds(pcm[int(start * 32000) : int((start + 3.0) * 32000)], 16000) == 0  # before the "five"
    assert loud_seconds(pcm[int((start + 3.0) * 32000) : int((start + 7.0) * 32000)], 16000) > 0.2
    assert loud_seconds((tmp_path / "home.wav").read_bytes()[44:], 16000) > 1.5  # the announcement
    d = desk.detail(call_id)
    assert d.status == "callback"
    kinds = [kind for _, kind, _, _ in d.queue_events]
    assert kinds[:2] == ["enqueued", "callback_requested"] and "callback_connected" in kinds
    (row,) = [r for r in _callbacks(desk) if r.call_id == call_id]
    assert (row.state, row.number, row.attempts, row.agent_id) == ("completed", "5551234", 0, "ann")


def test_an_invalid_number_is_asked_again_then_the_caller_keeps_waiting(desk: Desk) -> None:
    ann1, other = _busy_ann(desk, 30.0)
    # The caller ID "caller" is no number, so it is keyed in: too short twice.
    caller = start_call(desk.srv.uri, "1.5 dtmf 0", "+6.5 dtmf 1", "+4.0 dtmf 123#", "+5.0 dtmf 12#", "+6 hangup",
                        max_seconds=40)  # fmt: skip
    c = finish_call(caller)
    assert c["answered"] and c["ended_by"] == "local"  # still in the queue when it hung up
    log = desk.srv.log()
    assert "callback number '123' refused (attempt 1)" in log
    assert "callback number '12' refused (attempt 2)" in log
    finish_call(ann1, timeout=60)
    finish_call(other, timeout=60)
    rows = _callbacks(desk)
    assert all(r.number not in ("123", "12") for r in rows)


def test_a_callback_the_caller_does_not_answer_is_retried_then_reported_failed(desk: Desk) -> None:
    time.sleep(4)  # Ann's wrap-up after the last test
    ann1, other = _busy_ann(desk, 14.0)
    busy = desk.agent(desk.home, extra=("--answer-code", "486", "--max-seconds", "90"))  # type: ignore[attr-defined]
    caller = start_call(desk.srv.uri, "1.5 dtmf 0", "+6.5 dtmf 1", "+5.0 dtmf 1", max_seconds=40,
                        extra=("--user", "5559876"))  # fmt: skip
    assert finish_call(caller)["answered"]
    finish_call(ann1)
    finish_call(other)
    for n in (1, 2):
        ann = desk.agent(desk.ann, extra=("--max-seconds", "60"))
        a = finish_call(ann, timeout=90)
        assert a["answered"] and a["ended_by"] == "remote"  # told the customer did not answer, then hung up
        b = finish_call(busy, timeout=90)
        assert not b["answered"] and b["headers"]["X-IVR-Call-ID"] == a["headers"]["X-IVR-Call-ID"]
        if n == 1:
            busy = desk.agent(desk.home, extra=("--answer-code", "486", "--max-seconds", "90"))  # type: ignore[attr-defined]
    desk.srv.wait_log("failed after 2 attempt(s): 486 Busy Here", timeout=10)
    desk.srv.wait_log("live floor alert raised: callback to 5559876 (queue support) failed", timeout=15)
    (row,) = [r for r in _callbacks(desk) if r.number == "5559876"]
    assert (row.state, row.attempts, row.last_result) == ("failed", 2, "486 Busy Here")


def test_a_pending_callback_survives_a_restart_of_ivr_serve(desk: Desk, tmp_path: Path) -> None:
    time.sleep(4)  # Ann's wrap-up after the last test
    ann1, other = _busy_ann(desk, 40.0)
    caller = start_call(desk.srv.uri, "1.5 dtmf 0", "+6.5 dtmf 1", "+5.0 dtmf 1", max_seconds=40,
                        extra=("--user", "5554321"))  # fmt: skip
    assert finish_call(caller)["answered"]
    desk.srv.wait_log("to 5554321 accepted in queue support")
    assert desk.srv.stop() == 0  # SIGTERM while Ann is still busy: the callback is not served yet
    finish_call(ann1)
    finish_call(other)
    (row,) = [r for r in _callbacks(desk) if r.number == "5554321"]
    assert row.state == "pending"
    # Ann and the caller's phone wait for the restarted server, which requeues the callback at start-up.
    ann2 = desk.agent(desk.ann, "6.0 hangup", extra=("--max-seconds", "240"))
    home = desk.agent(desk.home, "8.0 hangup", extra=("--max-seconds", "240"))  # type: ignore[attr-defined]
    desk.srv = start_server(desk.srv.root, env={k: v for k, v in desk.srv.env.items() if k.startswith("IVR_CALLB")}
                            | ACME, extra_toml=_toml(desk.ann))  # fmt: skip
    a, h = finish_call(ann2, timeout=300), finish_call(home, timeout=300)
    assert a["answered"] and h["answered"]
    assert a["headers"]["X-IVR-Callback"] == "5554321" and a["headers"]["X-IVR-Call-ID"] == row.call_id
    assert "callbacks: 1 pending callback(s) requeued from the previous run" in desk.srv.log()
    deadline = time.monotonic() + 10
    while (state := next(r.state for r in _callbacks(desk) if r.number == "5554321")) != "completed":
        assert time.monotonic() < deadline, state
        time.sleep(0.3)
