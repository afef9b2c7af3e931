"""CachedSynthesizer: what a call session speaks through, with real espeak-ng and a real cache dir."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.core.config import TtsConfig
from ivr.core.errors import ConfigError
from ivr.core.interfaces import Synthesizer
from tts.cached import CachedSynthesizer

MENU = "For order status, press 1. For billing, press 2."


@pytest.fixture
async def voice(tmp_path: Path) -> AsyncIterator[CachedSynthesizer]:
    async with await CachedSynthesizer.open(TtsConfig(cache_dir=str(tmp_path / "unused")), tmp_path) as v:
        yield v


async def test_say_synthesizes_once_then_serves_from_cache(voice: CachedSynthesizer) -> None:
    first = await voice.say(MENU, 8000)
    calls = voice.engine.engine_calls
    t0 = time.perf_counter()
    assert await voice.say(MENU, 8000) == first
    assert time.perf_counter() - t0 < 0.020
    assert voice.engine.engine_calls == calls
    assert voice.cache.path(MENU, 8000).exists()


async def test_stream_of_a_cached_prompt_does_not_touch_the_engine(voice: CachedSynthesizer) -> None:
    pcm = await voice.say(MENU, 16000)
    calls = voice.engine.engine_calls
    assert [b async for b in voice.stream(MENU, 16000)] == [pcm]
    assert voice.engine.engine_calls == calls


async def test_stream_mixes_cached_and_dynamic_sentences(voice: CachedSynthesizer) -> None:
    static = "Thank you for waiting."
    cached = await voice.say(static, 8000)
    calls = voice.engine.engine_calls
    blocks = [b async for b in voice.stream(f"{static} Your order 1 2 3 4 5 shipped on November 20.", 8000)]
    assert blocks[0] == cached
    assert voice.engine.engine_calls - calls == 1  # only the dynamic sentence was synthesized
    assert sum(len(b) for b in blocks[1:]) / 2 / 8000 > 2.0
    # One-off text is not stored.
    assert not voice.cache.path("Your order 1 2 3 4 5 shipped on November 20.", 8000).exists()


async def test_prewarm_covers_both_call_rates(voice: CachedSynthesizer) -> None:
    prompts = ["Welcome to Acme.", "Goodbye.", "Welcome to Acme."]
    result = await voice.prewarm(prompts)
    assert (result.synthesized, result.cached, result.failed) == (4, 0, ())
    calls = voice.engine.engine_calls
    for rate in (8000, 16000):
        await voice.say("Goodbye.", rate)
    assert voice.engine.engine_calls == calls


async def test_is_a_synthesizer(voice: CachedSynthesizer) -> None:
    synth: Synthesizer = voice
    assert synth.capabilities.engine == "pyttsx3-espeak-ng"
    assert "gmw/en-us" in synth.capabilities.voices
    assert await synth.synthesize("", 8000) == b""


async def test_unknown_engine_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pyttsx3"):
        await CachedSynthesizer.open(TtsConfig(engine="festival"), tmp_path)
