"""Speech over real SIP: the caller talks, the IVR hears (real recognizer), and barge-in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from asr.corpus import DigitTake, spoken_digits
from ivr.core.audio import write_wav
from tests.conftest import FSDD
from tests.e2e.harness import IvrServer, events, run_call

pytestmark = pytest.mark.e2e


def order_number_wav(tmp_path: Path, digits: str = "12345", speaker: str = "jackson") -> Path:
    """A caller reading an order number: real FSDD recordings of one speaker joined with short pauses."""
    takes = [DigitTake(FSDD / f"{d}_{speaker}_{i}.wav", int(d), speaker) for i, d in enumerate(digits)]
    path = tmp_path / f"order-{digits}.wav"
    write_wav(path, spoken_digits(takes), 8000)
    return path


def test_order_status_by_speech(acme: IvrServer, tmp_path: Path) -> None:
    number = order_number_wav(tmp_path)
    t = run_call(
        acme.uri, "quiet say order status", f"quiet play {number}", "quiet say yes", "quiet hangup", max_seconds=90
    )
    assert t["answered"], t
    acme.wait_log("intent order_status", timeout=20)
    acme.wait_log("says 'Order one two three four five shipped on November twentieth", timeout=20)
    # Whisper decoded the number during the caller's pause (whether the turn then ended on the short
    # complete-answer pause or the step's full one depends on how fast the machine decodes)
    acme.wait_log("recognized 'one two three four five'", timeout=5)
    line = next(x for x in acme.log().splitlines() if "recognized 'one two three four five'" in x)
    assert "(early decode, turn ended on " in line, line
    # Confirm only when it helps: heard surely, the number is read back by the answer itself, with no
    # "Is that right?" turn before it; heard unsurely (below the step's confirm_below 0.5), it is asked.
    heard = re.search(r"call (\S+) heard 'one two three four five' \((\d\.\d\d)\)", acme.log())
    assert heard, acme.log()[-3000:]
    call_id, confidence = heard.group(1), float(heard.group(2))
    said = [x.split(" says ", 1)[1] for x in acme.log().splitlines() if f"call {call_id} says " in x]
    answer = next(i for i, x in enumerate(said) if x.startswith("'Order one two three four five shipped"))
    asked = "'I heard one two three four five. Is that right?'" in said[:answer]
    assert asked == (confidence < 0.5), (confidence, said)


def test_barge_in_stops_the_prompt_and_the_speech_is_recognized(acme: IvrServer, tmp_path: Path) -> None:
    # The menu prompt is ~10 s long; the caller asks for their order 2 s into it.
    heard = tmp_path / "heard.wav"
    before = acme.log().count("says 'Please say or key in your five-digit order number.'")
    t = run_call(acme.uri, "3.5 say order status", "+8 hangup", record=heard, max_seconds=60)
    said = events(t, "play_start")[0]["t"]
    acme.wait_log("barge-in by speech", timeout=20)
    acme.wait_log("says 'Please say or key in your five-digit order number.'", timeout=20, count=before + 1)
    # The prompt the caller interrupted ended soon after they started to talk (it would run ~8 s more).
    ends = [e["t"] for e in events(t, "prompt_end") if e["t"] > said]
    # 200 ms speech guard + stop + the 800 ms of quiet after which the caller marks a prompt's end
    assert ends and ends[0] - said < 2.0, (said, ends)
