"""The bundled Acme hotline over real SIP: order status by keypad, read from the seeded database (and by speech in
test_speech_calls)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import IvrServer, events, run_call

pytestmark = pytest.mark.e2e


def test_order_status_by_keypad(acme: IvrServer, tmp_path: Path) -> None:
    heard = tmp_path / "heard.wav"
    t = run_call(acme.uri, "quiet dtmf 1", "quiet dtmf 12345", "quiet hangup", record=heard, max_seconds=60)
    assert t["answered"]
    sent = events(t, "dtmf_sent")
    assert [e["digits"] for e in sent] == ["1", "12345"]
    # Each keyed answer is followed by the IVR speaking again.
    starts = [e["t"] for e in events(t, "prompt_start")]
    for dtmf in sent:
        assert any(0 < s - dtmf["t"] < 3.0 for s in starts), (dtmf, starts)
    acme.wait_log("intent order_status")
    acme.wait_log("storage: seeded demo orders 12345, 24680, 13579, 55555")  # the answer comes from the database
    acme.wait_log(
        "says 'Order one two three four five shipped on November twentieth"
        " and should arrive on November twenty fourth.'"
    )
    acme.wait_log("says 'Is there anything else I can help you with?")
    assert t["ended_by"] == "local"


def test_store_hours_by_keypad(acme: IvrServer) -> None:
    t = run_call(acme.uri, "quiet dtmf 3", "quiet hangup", max_seconds=60)
    assert t["answered"] and len(events(t, "prompt_start")) >= 2
    acme.wait_log("says 'Our stores are open Monday to Saturday from 9 AM to 9 PM")
