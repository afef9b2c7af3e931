"""Overload never means silence, over real SIP: a capacity of 2 decodes and 4 calls, 6 callers who speak.

Every admitted caller hears "One moment." or the answer within 2 s of the end of their speech; the callers
beyond the call capacity are refused before answer with 503 and Retry-After, which `ivr call` reports.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from ivr.core.audio import read_wav, resample, silence, write_wav
from tests.conftest import REPO
from tests.e2e.harness import events, finish_call, start_call, start_server

pytestmark = pytest.mark.e2e

LEAD = 0.2  # seconds of quiet before the phrase in the caller's file
PAD = 0.5  # ... and after it
OVERLOAD_ENV = {
    "IVR_FLOWS__DEFAULT": str(REPO / "flows" / "acme_retail.yaml"),
    "IVR_OVERLOAD__DECODE_SLOTS": "2",
    "IVR_ASR__WORKERS": "2",
    "IVR_OVERLOAD__MAX_CALLS": "4",
    "IVR_OVERLOAD__RETRY_AFTER_SECONDS": "20",
    "IVR_WORKERS__LOG_LEVEL": "1",
}


def phrase_wav(text: str, folder: Path) -> tuple[Path, float]:
    """A caller's phrase (espeak-ng at 8 kHz, trimmed) and where its speech ends in the file."""
    raw = folder / "raw.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "170", "-w", str(raw), text], check=True)
    pcm = read_wav(raw)
    samples = np.frombuffer(resample(pcm.data, pcm.rate, 8000), dtype="<i2")
    loud = np.flatnonzero(np.abs(samples) > 32768 * 10 ** (-45 / 20))
    speech = samples[loud[0] : loud[-1] + 1].tobytes()
    out = folder / "phrase.wav"
    write_wav(out, silence(LEAD, 8000) + speech + silence(PAD, 8000), 8000)
    return out, LEAD + len(speech) / 2 / 8000


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> dict[str, str]:
    """A prompt cache kept between runs, as a deployment keeps var/prompts (see tests/web/conftest.py).

    On a loaded 2-core machine a cold start pre-warms the Acme prompts for about 30 s, near the harness's limit.
    """
    cache = getattr(pytestconfig, "cache", None)  # None under -p no:cacheprovider: prompts made afresh
    folder = cache.mkdir("ivr-overload-prompts") if cache is not None else tmp_path_factory.mktemp("prompts")
    return {"IVR_TTS__CACHE_DIR": str(folder)}


def silence_after_speech(timeline: dict, speech_end: float) -> float | None:  # type: ignore[type-arg]
    """Seconds from the caller's end of speech to the first audio they heard after it (None: nothing)."""
    plays, ends = events(timeline, "play_start"), events(timeline, "play_end")
    if not plays:
        return None
    # from the end of the file less its quiet tail: a caller short of CPU sends its audio late (stretched)
    end = ends[0]["t"] - PAD if ends else plays[0]["t"] + speech_end
    after = [e["t"] for e in events(timeline, "prompt_start") if e["t"] > end]
    return after[0] - end if after else None


def test_six_callers_on_two_decodes_hear_no_long_silence_and_extra_calls_get_503(
    tmp_path: Path, prompts: dict[str, str]
) -> None:
    wav, speech_end = phrase_wav("order status", tmp_path)
    srv = start_server(tmp_path / "serve", workers=3, env={**OVERLOAD_ENV, **prompts})
    try:
        procs = []
        for _ in range(6):
            procs.append(start_call(srv.uri, f"quiet play {wav}", "+20 hangup", max_seconds=60))
            time.sleep(0.3)
        outputs = [p.communicate(timeout=120) for p in procs]
        log = srv.log()
    finally:
        srv.stop()
    results = [json.loads(out[out.find(b"{") :]) for out, _ in outputs]
    stderr = [err.decode() for _, err in outputs]
    answered = [t for t in results if t["answered"]]
    refused = [(t, err) for t, err in zip(results, stderr, strict=True) if not t["answered"]]
    assert len(answered) == 4, [(t["end_code"], t["end_reason"]) for t in results]
    assert len(refused) == 2
    for t, err in refused:  # refused before answer, by the control process through Kamailio
        assert (t["end_code"], t["retry_after"]) == (503, 20), t
        assert "refused with 503" in err and "retry after 20 s" in err, err
    assert log.count("refused: 4 calls, capacity 4 (503, Retry-After 20 s)") == 2, log[-3000:]
    silences = [silence_after_speech(t, speech_end) for t in answered]
    assert all(s is not None and s < 2.0 for s in silences), silences
    # what they heard first was "One moment." or the order-number question; both were said
    asked = {line.split("call ", 1)[1].split()[0] for line in log.splitlines()
             if "says 'Please say or key in your five-digit order number.'" in line}  # fmt: skip
    assert len(asked) == 4, log[-4000:]
    acks = log.count("says 'One moment.'")
    late = [s for s in silences if s is not None and s > 1.5]
    assert acks >= len(late), (acks, silences)


def test_without_kamailio_the_worker_refuses_with_503_and_retry_after(tmp_path: Path, prompts: dict[str, str]) -> None:
    srv = start_server(tmp_path / "serve", workers=1, kamailio=False, env={"IVR_OVERLOAD__MAX_CALLS": "1", **prompts})
    try:
        first = start_call(srv.uri, "+6 hangup", max_seconds=20)
        srv.wait_log("says", timeout=30)  # the first call is in the flow
        second = start_call(srv.uri, "+1 hangup", max_seconds=20)
        out, err = second.communicate(timeout=60)
        first.communicate(timeout=60)
    finally:
        srv.stop()
    t = json.loads(out[out.find(b"{") :])
    assert not t["answered"] and (t["end_code"], t["retry_after"]) == (503, 30), t
    assert "refused with 503 Service Unavailable; the server asks to retry after 30 s" in err.decode()
    assert events(t, "failed")[0]["retry_after"] == 30


def test_saturated_speech_steps_ask_for_keys_and_take_them(tmp_path: Path, prompts: dict[str, str]) -> None:
    # keypad_after_ms = 0 held for 0 s: recognition counts as saturated from the start, and stays so
    env = {**OVERLOAD_ENV, **prompts, "IVR_OVERLOAD__KEYPAD_AFTER_MS": "0", "IVR_OVERLOAD__KEYPAD_ENTER_SECONDS": "0",
           "IVR_OVERLOAD__KEYPAD_HOLD_SECONDS": "1000"}  # fmt: skip
    wav, _ = phrase_wav("order status", tmp_path)
    srv = start_server(tmp_path / "serve", workers=1, env=env)
    try:
        t = finish_call(start_call(srv.uri, f"quiet play {wav}", "+3 dtmf 1", "+6 hangup", max_seconds=60), 90)
        log = srv.log()
    finally:
        srv.stop()
    assert t["answered"], t
    notice = ("says 'Please use your keypad. Press 1 for order status, 2 for returns, 3 for store hours, "
              "or 0 for an agent.'")  # fmt: skip
    assert notice in log, log[-3000:]
    assert "recognized" not in log  # the caller's words were not decoded: no decode slot was spent on them
    assert "DTMF 1" in log and "says 'Please say or key in your five-digit order number.'" in log
    # the order-number step asks for keys too, before its prompt is over
    assert "says 'Please use your keypad.'" in log
