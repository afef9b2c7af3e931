"""Shutdown with calls in flight, a worker that dies, and what happens when every leg is busy."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.e2e.conftest import assert_clean_exit
from tests.e2e.harness import finish_call, run_call, start_call, start_server

pytestmark = pytest.mark.e2e


def test_shutdown_with_calls_in_flight_sends_bye_and_exits_cleanly(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "srv", workers=2)
    callers = [start_call(srv.uri, max_seconds=40) for _ in range(3)]
    try:
        srv.wait_log(" answered: ", count=3, timeout=20)
    finally:
        assert_clean_exit(srv)  # SIGTERM while 3 calls are up
        timelines = [finish_call(proc) for proc in callers]
    for t in timelines:
        assert t["answered"]
        assert t["ended_by"] == "remote" and t["end_code"] == 200, t  # a BYE, not a timeout
    assert srv.log().count("ended by ivr") == 3


def test_killed_worker_is_restarted_and_its_call_logged_interrupted(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "srv", workers=2)
    try:
        caller = start_call(srv.uri, max_seconds=6)
        srv.wait_log(" answered: ", timeout=20)
        status = srv.wait_status(lambda s: any(w.get("legs") for w in s["workers"].values()))
        name, worker = next((n, w) for n, w in status["workers"].items() if w["legs"])
        os.kill(worker["pid"], signal.SIGKILL)
        srv.wait_log(f"interrupted: media worker {name} died")
        srv.wait_log(f"media worker {name} (pid")
        restarted = srv.wait_status(
            lambda s: s["worker_restarts"] == 1 and s["workers"].get(name, {}).get("pid") not in (None, worker["pid"])
        )
        assert len(restarted["workers"]) == 2
        finish_call(caller)
        for _ in range(4):  # both workers take calls again (round robin spreads them)
            assert run_call(srv.uri, "0.3 hangup")["answered"]
    finally:
        code = srv.stop()
    assert code == 0
    assert "Assertion" not in srv.log()


def test_fifth_concurrent_caller_gets_busy_after_failover(tmp_path: Path) -> None:
    # 2 workers x 2 callers (the other 2 legs of each are kept for agents): 4 calls fit.
    srv = start_server(tmp_path / "srv", workers=2)
    try:
        holders = [start_call(srv.uri, max_seconds=12) for _ in range(4)]
        srv.wait_log(" answered: ", count=4, timeout=20)
        busy = run_call(srv.uri, max_seconds=10)
        assert not busy["answered"]
        assert busy["end_code"] == 486, busy
        assert srv.log().count("refused: 2 callers already (486)") == 2  # both workers were tried
        for proc in holders:
            assert finish_call(proc)["answered"]
    finally:
        assert_clean_exit(srv)
