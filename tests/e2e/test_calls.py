"""Real SIP calls between `ivr call` and `ivr serve` (Kamailio + 2 media workers) over loopback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ivr.core.audio import read_wav
from tests.e2e.harness import IvrServer, events, run_call

pytestmark = pytest.mark.e2e


def _speech_seconds(path: Path) -> tuple[float, float]:
    """(seconds of audio louder than -35 dBFS in 20 ms frames, RMS dBFS of those frames)."""
    pcm = read_wav(path)
    x = np.frombuffer(pcm.data, dtype="<i2").astype(np.float64)
    n = pcm.rate // 50
    frames = x[: len(x) // n * n].reshape(-1, n)
    level = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) / 32768 + 1e-9)
    loud = level > -35
    return float(loud.sum() * 0.02), float(level[loud].mean()) if loud.any() else -120.0


def test_greeting_is_speech_and_ivr_hangup_reaches_caller(server: IvrServer, tmp_path: Path) -> None:
    heard = tmp_path / "heard.wav"
    t = run_call(server.uri, "quiet dtmf #", record=heard)
    assert t["answered"] and t["codec"] == "PCMU/8000"
    speech, level = _speech_seconds(heard)
    # "Thank you for calling Acme. Press any key." is about 2.5 s of speech at 170 wpm.
    assert 1.5 < speech < 6.0, speech
    assert level > -30, level
    # '#' makes the IVR say goodbye and hang up: the BYE comes from the IVR's side.
    assert t["ended_by"] == "remote" and t["end_code"] == 200
    assert len(events(t, "prompt_start")) >= 2  # greeting, then goodbye


@pytest.mark.parametrize("method", ["dtmf", "info"])
def test_dtmf_reaches_ivr_and_is_read_back(server: IvrServer, method: str) -> None:
    t = run_call(server.uri, f"quiet {method} 7", "quiet hangup")
    sent = events(t, "dtmf_sent")[0]
    # The reply ("You pressed seven.") starts after the digit was sent.
    replies = [e for e in events(t, "prompt_start") if e["t"] > sent["t"]]
    assert replies, t
    assert replies[0]["t"] - sent["t"] < 2.0
    expected = "info" if method == "info" else "rfc4733"
    server.wait_log(f"DTMF 7 ({expected})")


def test_caller_hangup_reaches_ivr(server: IvrServer) -> None:
    before = server.log().count("ended by caller")
    t = run_call(server.uri, "1.0 hangup")
    assert t["ended_by"] == "local"
    server.wait_log("ended by caller", count=before + 1)


def test_twenty_sequential_calls_leave_no_leaked_call_or_port(server: IvrServer) -> None:
    run_call(server.uri, "0.5 hangup")
    baseline = server.wait_status(lambda s: sum(w["legs"] for w in s["workers"].values()) == 0)
    ports = {name: w["conf_ports"] for name, w in baseline["workers"].items()}
    for i in range(20):
        t = run_call(server.uri, "0.3 hangup" if i % 2 else "1.2 hangup")  # both inside the greeting
        assert t["answered"], t

    def settled(s: dict) -> bool:
        ws = s["workers"].values()
        return (
            all(w["legs"] == 0 and w["control_legs"] == 0 and w["spool_files"] == 0 for w in ws)
            and {n: w["conf_ports"] for n, w in s["workers"].items()} == ports
        )

    after = server.wait_status(settled, timeout=15)
    assert after["worker_restarts"] == 0
