"""The generated Kamailio configuration is accepted by the real Kamailio."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ivr.core.config import KamailioConfig, SipConfig
from telephony.kamailio import render_config, render_dispatcher


def test_generated_config_passes_kamailio_check(tmp_path: Path) -> None:
    sip = SipConfig(port=15060)
    (tmp_path / "dispatcher.list").write_text(render_dispatcher(sip.host, [15070, 15071]))
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(render_config(sip, KamailioConfig(), [15070, 15071], tmp_path))
    binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
    proc = subprocess.run(
        [binary, "-c", "-f", str(cfg), "-Y", str(tmp_path)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert render_dispatcher("127.0.0.1", [15070, 15071]) == "1 sip:127.0.0.1:15070\n1 sip:127.0.0.1:15071\n"
