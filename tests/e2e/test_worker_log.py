"""pjsua2's own log lines (its start-up banner too) go through Python logging, never to stdout."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.conftest import assert_clean_exit
from tests.e2e.harness import start_server

BANNER = "pjlib 2.15.1 for POSIX initialized"
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \S+\[\d+\] (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def test_pjsua_banner_is_logged_at_debug_not_printed(tmp_path: Path) -> None:
    log_file = tmp_path / "ivr.log"
    env = {"IVR_LOG__LEVEL": "DEBUG", "IVR_LOG__FILE": str(log_file), "IVR_WORKERS__LOG_LEVEL": "5"}
    srv = start_server(tmp_path / "serve", workers=2, env=env, split_stdout=True)
    try:
        stdout = srv.stdout()
    finally:
        assert_clean_exit(srv)
    assert stdout.strip() == f"ivr ready on sip:127.0.0.1:{srv.sip_port}", stdout[-2000:]
    logged = log_file.read_text()
    banners = [line for line in logged.splitlines() if line.endswith(BANNER)]
    assert len(banners) == 2, logged[-3000:]  # one per worker
    assert all(" DEBUG telephony.endpoint: pjsua2: " in line for line in banners), banners
    assert "pjsua2: PJSUA destroyed" in logged  # the shutdown lines too
    # A fresh database has no console users: the terminal (stderr) says how to create the first admin.
    assert "ivr users add admin --role admin" in srv.log()
    # Every line on stderr came through the log format: no raw pjlib line sneaks past it.
    raw = [line for line in srv.log().splitlines() if "pjsua" in line.lower() and not _LOG_LINE.match(line)]
    assert raw == [], raw[:5]


def test_default_pjsua_verbosity_keeps_the_banner_out_of_the_log(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "serve", workers=1, kamailio=False, split_stdout=True)
    try:
        srv.wait_log("worker w0 listening")
        stdout = srv.stdout()
    finally:
        assert_clean_exit(srv)
    assert BANNER not in stdout and BANNER not in srv.log(), srv.log()[-2000:]
    assert "PJSUA state changed" not in srv.log()


def test_serve_chooses_and_logs_its_capacity(tmp_path: Path) -> None:
    # [workers] count = 0: as many workers as the machine allows; a short RTP port range makes that 3 here.
    env = {"IVR_WORKERS__COUNT": "0", "IVR_WORKERS__RTP_PORT_START": str(65536 - 3 * 20 - 10)}
    srv = start_server(tmp_path / "serve", workers=3, env=env)
    try:
        status = srv.wait_status(lambda s: len(s["workers"]) == 3)
        assert len(status["workers"]) == 3
        srv.wait_log("capacity: 3 media workers x 2 callers = 6 concurrent calls, limited by RTP ports")
    finally:
        assert_clean_exit(srv)
