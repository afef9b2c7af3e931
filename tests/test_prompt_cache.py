"""PromptCache with the real espeak-ng engine and a real cache directory."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.core.config import TtsConfig
from tests.conftest import skip_unless_ci
from tts.cache import PromptCache, PromptCacheError
from tts.pyttsx3_engine import Pyttsx3Synthesizer

WELCOME = "Welcome to Acme. Your call may be recorded."


@pytest.fixture(scope="module")
def engine() -> Iterator[Pyttsx3Synthesizer]:
    synth = Pyttsx3Synthesizer(TtsConfig())
    asyncio.run(synth.start())
    yield synth
    asyncio.run(synth.aclose())


@pytest.fixture
def cache(tmp_path: Path, engine: Pyttsx3Synthesizer) -> Iterator[PromptCache]:
    c = PromptCache(tmp_path / "prompts", engine)
    yield c
    c.close()


async def test_second_request_is_served_from_cache(cache: PromptCache, engine: Pyttsx3Synthesizer) -> None:
    first = await cache.get_or_synthesize(WELCOME, 8000)
    calls = engine.engine_calls
    t0 = time.perf_counter()
    again = await cache.get_or_synthesize(WELCOME, 8000)
    hit = time.perf_counter() - t0
    assert again == first
    assert engine.engine_calls == calls
    assert hit < 0.020
    path = cache.path(WELCOME, 8000)
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (1, 8000, len(first) // 2)


async def test_entries_survive_a_restart(tmp_path: Path, engine: Pyttsx3Synthesizer) -> None:
    before = PromptCache(tmp_path, engine)
    pcm = await before.get_or_synthesize(WELCOME, 16000)
    before.close()
    after = PromptCache(tmp_path, engine)
    calls = engine.engine_calls
    t0 = time.perf_counter()
    assert await after.get_or_synthesize(WELCOME, 16000) == pcm
    assert time.perf_counter() - t0 < 0.020
    assert engine.engine_calls == calls
    assert after.stats.disk_hits == 1
    after.close()


async def test_key_covers_rate_and_voice_settings(tmp_path: Path, engine: Pyttsx3Synthesizer) -> None:
    cache = PromptCache(tmp_path, engine)
    slow = Pyttsx3Synthesizer(TtsConfig(rate=120))
    await slow.start()
    try:
        slow_cache = PromptCache(tmp_path, slow)
        keys = {cache.key(WELCOME, 8000), cache.key(WELCOME, 16000), slow_cache.key(WELCOME, 8000)}
        assert len(keys) == 3
        # Whitespace does not make a different prompt.
        assert cache.key(f"  {WELCOME} ", 8000) == cache.key(WELCOME, 8000)
        fast_pcm = await cache.get_or_synthesize(WELCOME, 8000)
        slow_pcm = await slow_cache.get_or_synthesize(WELCOME, 8000)
        assert len(slow_pcm) > 1.2 * len(fast_pcm)
        slow_cache.close()
    finally:
        await slow.aclose()
        cache.close()


async def test_concurrent_misses_synthesize_once(cache: PromptCache, engine: Pyttsx3Synthesizer) -> None:
    calls = engine.engine_calls
    results = await asyncio.gather(*(cache.get_or_synthesize("Please hold.", 8000) for _ in range(5)))
    assert engine.engine_calls - calls == 1
    assert len(set(results)) == 1


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "wrong_rate"])
async def test_corrupt_entry_is_synthesized_again(
    cache: PromptCache, engine: Pyttsx3Synthesizer, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    good = await cache.get_or_synthesize(WELCOME, 8000)
    path = cache.path(WELCOME, 8000)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(good)
    fresh = PromptCache(cache.directory, engine)  # no copy in memory: it must read the file
    calls = engine.engine_calls
    with caplog.at_level(logging.WARNING, logger="tts.cache"):
        pcm = await fresh.get_or_synthesize(WELCOME, 8000)
    assert abs(len(pcm) - len(good)) < 0.01 * len(good)
    assert engine.engine_calls > calls
    assert fresh.stats.corrupt == 1
    assert "corrupt" in caplog.text
    with wave.open(str(path), "rb") as w:
        assert w.getnframes() == len(pcm) // 2
    fresh.close()


async def test_full_disk_still_returns_audio(
    cache: PromptCache, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with caplog.at_level(logging.ERROR, logger="tts.cache"):
        a = await cache.get_or_synthesize("Our offices are closed.", 8000)
        b = await cache.get_or_synthesize("Please call back tomorrow.", 8000)
    assert len(a) > 8000 and len(b) > 8000
    assert cache.stats.write_errors == 2
    assert isinstance(cache.last_error, PromptCacheError)
    assert "free disk space" in str(cache.last_error)
    assert caplog.text.count("free disk space") == 1  # logged once, not once per call
    # Neither a final entry nor a temp file is left behind.
    assert not cache.path("Our offices are closed.", 8000).exists()
    assert list(cache.directory.rglob("*.tmp")) == []
    monkeypatch.undo()
    await cache.get_or_synthesize("Goodbye.", 8000)
    assert cache.last_error is None


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 16 KiB tmpfs: room for a directory, not for a prompt."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        skip_unless_ci("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mnt)], capture_output=True)
    if mounted.returncode != 0:
        skip_unless_ci(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


async def test_really_full_disk_still_returns_audio(tiny_disk: Path, engine: Pyttsx3Synthesizer) -> None:
    cache = PromptCache(tiny_disk / "prompts", engine)
    pcm = await cache.get_or_synthesize(WELCOME, 16000)
    assert len(pcm) / 2 / 16000 > 1.5
    assert cache.stats.write_errors == 1
    assert "No space left on device" in str(cache.last_error)
    assert "free disk space" in str(cache.last_error)
    assert not cache.path(WELCOME, 16000).exists()
    assert list(tiny_disk.rglob("*.tmp")) == []
    assert await cache.get_or_synthesize(WELCOME, 16000) == pcm  # served from memory meanwhile
    cache.close()


def test_unusable_directory_is_a_clear_error(tmp_path: Path, engine: Pyttsx3Synthesizer) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(PromptCacheError, match="cache_dir"):
        PromptCache(blocker / "prompts", engine)


def test_stale_temp_files_are_removed(tmp_path: Path, engine: Pyttsx3Synthesizer) -> None:
    (tmp_path / "ab").mkdir()
    stale = tmp_path / "ab" / ".abcdef.x.tmp"
    stale.write_bytes(b"RIFF half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fresh = tmp_path / "ab" / ".abcdef.y.tmp"
    fresh.write_bytes(b"RIFF being written")
    PromptCache(tmp_path, engine).close()
    assert not stale.exists() and fresh.exists()


async def test_prewarm_synthesizes_each_prompt_once(cache: PromptCache, engine: Pyttsx3Synthesizer) -> None:
    prompts = ["Press 1 for orders.", "Press 2 for billing.", "Press 1 for orders.", "", "Goodbye."]
    result = await cache.prewarm(prompts, 8000)
    assert (result.synthesized, result.cached, result.failed) == (3, 0, ())
    for text in set(prompts) - {""}:
        assert cache.path(text, 8000).exists()
    calls = engine.engine_calls
    again = await cache.prewarm(prompts, 8000)
    assert (again.synthesized, again.cached) == (0, 3)
    assert engine.engine_calls == calls


async def test_nothing_speakable_is_not_cached(cache: PromptCache) -> None:
    assert await cache.get_or_synthesize(" ... ", 8000) == b""
    assert list(cache.directory.rglob("*.wav")) == []
