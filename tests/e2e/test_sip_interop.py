"""sipp, a SIP client this project did not write, against `ivr serve`: interop and bad input."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import assert_clean_exit
from tests.e2e.harness import IvrServer, free_port, run_call, start_server

pytestmark = pytest.mark.e2e
SCENARIOS = REPO / "tests" / "sipp"


def sipp(port: int, scenario: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    """Run one sipp call; sipp exits 0 only if every message matched the scenario."""
    err = tmp_path / f"{scenario}.err"
    args = ["sipp", f"127.0.0.1:{port}", "-sf", str(SCENARIOS / scenario), "-m", "1", "-i", "127.0.0.1",
            "-p", str(free_port()), "-timeout", "15s", "-timeout_error", "-nostdin", "-trace_err",
            "-error_file", str(err), *extra]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, timeout=40)
    if proc.returncode != 0:
        detail = err.read_text(errors="replace")[-2000:] if err.exists() else ""
        raise AssertionError(f"sipp {scenario} failed ({proc.returncode}):\n{detail}")
    return proc


def _idle(server: IvrServer) -> None:
    server.wait_status(lambda s: all(w["legs"] == 0 and w["control_legs"] == 0 for w in s["workers"].values()))


def test_sipp_call_through_kamailio_follows_record_route(server: IvrServer, tmp_path: Path) -> None:
    before = server.log().count("ended by caller")
    sipp(server.sip_port, "uac_rr.xml", tmp_path, "-d", "1500")  # BYE routed via Record-Route gets 200
    server.wait_log("ended by caller", count=before + 1)
    _idle(server)


def test_caller_hanging_up_during_greeting(server: IvrServer, tmp_path: Path) -> None:
    before = server.log().count("ended by caller")
    sipp(server.sip_port, "uac_rr.xml", tmp_path, "-d", "300")
    server.wait_log("ended by caller", count=before + 1)
    _idle(server)


def test_invite_with_no_common_codec_gets_488(server: IvrServer, tmp_path: Path) -> None:
    sipp(server.sip_port, "no_common_codec.xml", tmp_path)
    server.wait_log("Not Acceptable Here")
    _idle(server)


def test_malformed_invite_gets_400_and_a_log_line(server: IvrServer, tmp_path: Path) -> None:
    sipp(server.sip_port, "malformed_invite.xml", tmp_path)
    kamailio_log = server.root / "var" / "run" / "kamailio.log"
    assert "failed to parse request uri" in kamailio_log.read_text()
    t = run_call(server.uri, "0.5 hangup")  # still serving
    assert t["answered"]


def test_without_kamailio_one_worker_serves_and_warns(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "solo", kamailio=False)
    try:
        assert "Kamailio is not installed (or [kamailio] enabled = false)" in srv.log()
        assert list(srv.wait_status(lambda s: len(s["workers"]) == 1)["workers"]) == ["w0"]
        sipp(srv.sip_port, "uac_rr.xml", tmp_path, "-d", "500")
        sipp(srv.sip_port, "no_common_codec.xml", tmp_path)
        # pjsip cannot answer a request line it cannot parse; it drops it and says so.
        proc = subprocess.run(["sipp", f"127.0.0.1:{srv.sip_port}", "-sf", str(SCENARIOS / "malformed_invite.xml"),
                               "-m", "1", "-i", "127.0.0.1", "-p", str(free_port()), "-timeout", "2s",
                               "-timeout_error", "-nostdin"], capture_output=True, timeout=20)  # fmt: skip
        assert proc.returncode != 0
        srv.wait_log("syntax error exception when parsing 'Request Line'")
        assert run_call(srv.uri, "0.5 hangup")["answered"]
    finally:
        assert_clean_exit(srv)
