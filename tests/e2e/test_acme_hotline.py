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


def test_a_hash_after_a_complete_order_number_does_not_cut_off_the_answer(acme: IvrServer, tmp_path: Path) -> None:
    # The five digits complete the entry; the '#' a caller adds by habit arrives 0.25 s later, while the answer
    # is being looked up or already playing. It must neither cut the answer off nor reach the next menu.
    t = run_call(acme.uri, "quiet dtmf 1", "quiet dtmf 24680#", "quiet hangup", record=tmp_path / "heard.wav",
                 max_seconds=60)  # fmt: skip
    assert t["answered"] and t["ended_by"] == "local"
    keyed = events(t, "dtmf_sent")[-1]
    assert keyed["digits"] == "24680#"
    last_key = keyed["t"] + 0.25 * (len(keyed["digits"]) - 1)
    starts = [e["t"] for e in events(t, "prompt_start") if e["t"] > keyed["t"]]
    ends = [e["t"] for e in events(t, "prompt_end") if e["t"] > keyed["t"]]
    assert starts and ends, t["events"]
    # "Order 2 4 6 8 0 was delivered on November eighteenth. Is there anything else I can help you with?"
    # plays as one stretch of speech of about 6 s; cut off by the '#', it stopped within a second.
    assert ends[0] - starts[0] > 4.5, t["events"]
    assert ends[0] > last_key + 3.0, t["events"]
    acme.wait_log("says 'Order two four six eight zero was delivered on November eighteenth.'")
    acme.wait_log("terminator after a complete entry ignored")
    # The caller hung up in the quiet after the question: no reprompt for silence came first.
    assert len(starts) == 1, t["events"]
