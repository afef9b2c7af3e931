"""Pyttsx3Synthesizer against the real pyttsx3 and espeak-ng."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path

import numpy as np
import pytest

from ivr.core.audio import rms_dbfs
from ivr.core.config import TtsConfig
from ivr.core.errors import ConfigError, SynthesisError
from tts._workers import ProcessWorker
from tts.pyttsx3_engine import Pyttsx3Synthesizer

GREETING = "Thank you for calling Acme. Press any key and I will read it back to you."


@pytest.fixture(scope="module")
def engine() -> Iterator[Pyttsx3Synthesizer]:
    synth = Pyttsx3Synthesizer(TtsConfig())
    asyncio.run(synth.start())
    yield synth
    asyncio.run(synth.aclose())


def frame_levels(pcm: bytes, rate: int) -> np.ndarray:
    """dBFS of each 20 ms frame."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    n = rate // 50
    frames = x[: len(x) // n * n].reshape(-1, n)
    rms = np.sqrt(np.mean(frames**2, axis=1)) + 1e-9
    return 20 * np.log10(rms / 32768)


def same_speech(a: bytes, b: bytes) -> bool:
    """Equal length and level within what espeak-ng's run-to-run noise allows (it is not bit-exact)."""
    return abs(len(a) - len(b)) < 0.03 * len(a) and abs(rms_dbfs(a) - rms_dbfs(b)) < 1.5


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_greeting_is_speech_at_call_rate(engine: Pyttsx3Synthesizer, rate: int) -> None:
    pcm = await engine.synthesize(GREETING, rate)
    seconds = len(pcm) / 2 / rate
    # 15 words at 170 words per minute is about 5 s, plus pauses at the sentence ends.
    assert 3.0 < seconds < 9.0
    assert rms_dbfs(pcm) > -30
    levels = frame_levels(pcm, rate)
    # Speech has loud syllables and quiet gaps between phrases, not a constant tone or silence.
    assert np.mean(levels > -35) > 0.5
    assert np.mean(levels < -50) > 0.03


async def test_same_speech_at_both_rates(engine: Pyttsx3Synthesizer) -> None:
    narrow = await engine.synthesize("Your call is important to us.", 8000)
    wide = await engine.synthesize("Your call is important to us.", 16000)
    assert abs(len(narrow) / 2 / 8000 - len(wide) / 2 / 16000) < 0.01


@pytest.mark.parametrize("text", ["", "   ", "...", " — ?! ", "\x00\n\t"])
async def test_nothing_speakable_is_empty_audio(engine: Pyttsx3Synthesizer, text: str) -> None:
    calls = engine.engine_calls
    assert await engine.synthesize(text, 8000) == b""
    assert [b async for b in engine.stream(text, 8000)] == []
    assert engine.engine_calls == calls


async def test_stream_starts_before_the_text_is_done(engine: Pyttsx3Synthesizer) -> None:
    text = (
        "Your order 1 2 3 4 5 shipped on November 20. It should arrive on Monday. "
        "You can track it on our website. Is there anything else I can help you with today?"
    )
    calls = engine.engine_calls
    t0 = time.perf_counter()
    blocks: list[bytes] = []
    first_at = 0.0
    sentences_started_at_first_block = 0
    async for block in engine.stream(text, 8000):
        if not blocks:
            first_at = time.perf_counter() - t0
            sentences_started_at_first_block = engine.engine_calls - calls
        blocks.append(block)
    total = time.perf_counter() - t0
    assert engine.engine_calls - calls == 4
    # The first audio is ready while most of the text is not even queued for synthesis yet.
    assert sentences_started_at_first_block <= 2
    assert first_at < total / 2
    assert len(blocks[0]) / 2 / 8000 <= 0.25
    assert same_speech(b"".join(blocks), await engine.synthesize(text, 8000))


@pytest.mark.parametrize("worker", ["process", "thread"])
async def test_abandoned_stream_stops_the_worker(worker: str) -> None:
    long_sentence = " ".join(["the quick brown fox jumps over the lazy dog"] * 5)  # ~15 s of speech
    async with Pyttsx3Synthesizer(TtsConfig(), worker=worker) as synth:  # type: ignore[arg-type]
        async with aclosing(synth.stream(long_sentence, 16000)) as blocks:
            async for _first in blocks:
                break  # the caller barged in
        t0 = time.perf_counter()
        async with aclosing(synth.stream("Yes?", 16000)) as blocks:
            async for _first in blocks:
                break
        # Without cancellation this waits for the rest of the 15 s sentence to be rendered.
        assert time.perf_counter() - t0 < 0.35


async def test_dynamic_digits_are_read_out(engine: Pyttsx3Synthesizer) -> None:
    short = await engine.synthesize("order shipped", 8000)
    digits = await engine.synthesize("order 1 2 3 4 5 shipped on November 20", 8000)
    assert len(digits) > 2.5 * len(short)


async def test_very_long_text(engine: Pyttsx3Synthesizer) -> None:
    text = " ".join(f"Item {i} of your order is on its way to the warehouse" for i in range(1, 16)) + "."
    assert len(text) > 700  # one run-on sentence: it must still be cut into engine-sized pieces
    calls = engine.engine_calls
    pcm = await engine.synthesize(text, 8000)
    assert engine.engine_calls - calls >= 3
    assert 30 < len(pcm) / 2 / 8000 < 120
    assert rms_dbfs(pcm) > -30


async def test_event_loop_keeps_ticking_during_synthesis(engine: Pyttsx3Synthesizer) -> None:
    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        while not done:
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            worst = max(worst, time.perf_counter() - t - 0.005)

    tick = asyncio.create_task(ticker())
    await engine.synthesize(GREETING + " " + GREETING, 16000)
    done = True
    await tick
    # Blocking the loop for this synthesis would stall it for most of a second; allow for a busy machine.
    assert worst < 0.25


async def test_unknown_voice_names_the_voices_available() -> None:
    synth = Pyttsx3Synthesizer(TtsConfig(voice="en-klingon"))
    with pytest.raises(SynthesisError) as err:
        await synth.start()
    message = str(err.value)
    assert "en-klingon" in message
    assert "gmw/en-us" in message
    assert "espeak-ng --voices" in message


@pytest.mark.parametrize("config", [TtsConfig(rate=5), TtsConfig(volume=1.5)])
def test_out_of_range_settings(config: TtsConfig) -> None:
    with pytest.raises(ConfigError):
        Pyttsx3Synthesizer(config)


def _hide_espeak(tmp_path: Path) -> Path:
    """A sitecustomize that makes every process started with it fail to load libespeak-ng."""
    (tmp_path / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
            import ctypes
            _load = ctypes.cdll.LoadLibrary
            def _no_espeak(name, *args, **kwargs):
                if "espeak" in str(name):
                    raise OSError(f"{name}: cannot open shared object file")
                return _load(name, *args, **kwargs)
            ctypes.cdll.LoadLibrary = _no_espeak
            """
        )
    )
    return tmp_path


async def test_missing_espeak_fails_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(_hide_espeak(tmp_path)))
    synth = Pyttsx3Synthesizer(TtsConfig())
    with pytest.raises(SynthesisError, match=r"libespeak-ng.*apt-get install espeak-ng"):
        await synth.start()


def test_missing_espeak_fails_at_start_in_thread_worker(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import asyncio
        from ivr.core.config import TtsConfig
        from ivr.core.errors import SynthesisError
        from tts.pyttsx3_engine import Pyttsx3Synthesizer
        try:
            asyncio.run(Pyttsx3Synthesizer(TtsConfig(), worker="thread").start())
        except SynthesisError as exc:
            print("SynthesisError:", exc)
        """
    )
    env = dict(os.environ, PYTHONPATH=f"{_hide_espeak(tmp_path)}{os.pathsep}{Path(__file__).parents[1]}")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert "SynthesisError: espeak-ng library (libespeak-ng.so.1) not found" in out.stdout, out.stderr


async def test_worker_is_replaced_after_it_dies(engine: Pyttsx3Synthesizer) -> None:
    worker = engine.worker
    assert isinstance(worker, ProcessWorker) and worker.pid is not None
    old = worker.pid
    os.kill(old, signal.SIGKILL)
    pcm = await engine.synthesize("Still here.", 8000)
    assert len(pcm) > 8000
    assert worker.pid not in (None, old)


async def test_hung_worker_is_killed_and_replaced() -> None:
    async with Pyttsx3Synthesizer(TtsConfig(), timeout=2.0) as synth:
        worker = synth.worker
        assert isinstance(worker, ProcessWorker) and worker.pid is not None
        old = worker.pid
        os.kill(old, signal.SIGSTOP)  # alive but silent, like an engine stuck in its loop
        t0 = time.perf_counter()
        pcm = await synth.synthesize("Still here.", 8000)
        assert len(pcm) > 8000
        assert time.perf_counter() - t0 < 15
        assert worker.restarts >= 1 and worker.pid != old


async def test_thread_worker_gives_the_same_audio(engine: Pyttsx3Synthesizer) -> None:
    async with Pyttsx3Synthesizer(TtsConfig(), worker="thread") as synth:
        assert same_speech(await synth.synthesize(GREETING, 8000), await engine.synthesize(GREETING, 8000))
