"""Registration to an upstream SIP trunk, against sipp acting as the registrar."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import assert_clean_exit
from tests.e2e.harness import free_port, start_server

pytestmark = pytest.mark.e2e


def _registrar(scenario: str, port: int, messages: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["sipp", "-sf", str(REPO / "tests/sipp" / scenario), "-i", "127.0.0.1", "-p", str(port), "-m", "1",
         "-timeout", "20s", "-timeout_error", "-nostdin", "-trace_msg", "-message_file", str(messages)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _trunk_env(port: int, password: str) -> dict[str, str]:
    return {
        "IVR_SIP__TRUNK__ENABLED": "true",
        "IVR_SIP__TRUNK__REGISTRAR": f"sip:127.0.0.1:{port}",
        "IVR_SIP__TRUNK__USER": "acme",
        "IVR_SIP__TRUNK__PASSWORD": password,
    }


@pytest.mark.parametrize(("password", "code"), [("secret", 200), ("wrong", 403)])
def test_registers_with_digest_auth_and_logs_failure(tmp_path: Path, password: str, code: int) -> None:
    port = free_port()
    messages = tmp_path / "registrar.log"
    registrar = _registrar("registrar_digest.xml", port, messages)
    srv = start_server(tmp_path / "srv", env=_trunk_env(port, password))
    try:
        assert registrar.wait(20) == 0  # sipp saw the challenge answered (digest checked either way)
        # The trunk is told to send calls to the public port (Kamailio), not to a worker.
        assert f"Contact: <sip:acme@127.0.0.1:{srv.sip_port}>" in messages.read_text()
        status = srv.wait_status(lambda s: s["registration"] is not None)
        assert status["registration"][0] == code
        if code == 200:
            srv.wait_log("trunk registration sip:acme@127.0.0.1")
            assert "FAILED" not in srv.log()
        else:
            srv.wait_log("FAILED: 403 Forbidden; check [sip.trunk] registrar, user and password")
    finally:
        assert_clean_exit(srv)
