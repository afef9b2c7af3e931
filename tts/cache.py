"""Disk-backed prompt cache: synthesize a prompt once, then serve it from memory or disk in milliseconds.

Entries are WAV files named by a hash of (text, voice, words per minute, volume, sample rate,
engine and its version). They are written to a temporary file, fsynced and renamed into place, so
a crash never leaves a half-written entry; an entry that is corrupt anyway is deleted and
synthesized again.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import hashlib
import json
import logging
import os
import tempfile
import time
import wave
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ivr.core.audio import check_call_rate
from ivr.core.errors import SynthesisError
from tts.text import clean, speakable

log = logging.getLogger(__name__)

_STALE_TEMP_SECONDS = 3600  # a temp file this old belongs to a writer that crashed


class PromptCacheError(SynthesisError):
    """The prompt cache directory cannot be created or written."""


@dataclass(frozen=True)
class VoiceKey:
    """What, besides text and sample rate, decides a synthesizer's audio."""

    engine: str
    voice: str
    wpm: int
    volume: float


class CacheableSynthesizer(Protocol):
    """A synthesizer whose output the prompt cache can key and store."""

    @property
    def voice_key(self) -> VoiceKey: ...

    async def start(self) -> None: ...

    async def synthesize(self, text: str, rate: int) -> bytes: ...


@dataclass
class CacheStats:
    """Counters for health checks and tests."""

    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0
    corrupt: int = 0
    write_errors: int = 0


@dataclass(frozen=True)
class PrewarmResult:
    """What `PromptCache.prewarm` did: prompts synthesized now, already cached, and failures."""

    synthesized: int
    cached: int
    failed: tuple[str, ...] = ()


class _CorruptEntry(Exception):
    pass


class PromptCache:
    """Prompts of one synthesizer, cached in memory (LRU) and on disk."""

    def __init__(
        self,
        directory: str | Path,
        synthesizer: CacheableSynthesizer,
        *,
        memory_bytes: int = 64 << 20,
        prewarm_concurrency: int = 2,
    ) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PromptCacheError(
                f"cannot create prompt cache directory {self.directory} ({exc.strerror}); "
                "set [tts] cache_dir in config.toml to a writable directory"
            ) from exc
        self.synthesizer = synthesizer
        self.stats = CacheStats()
        self.last_error: PromptCacheError | None = None
        self._memory: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self._memory_bytes = 0
        self._memory_limit = memory_bytes
        self._prewarm_concurrency = max(1, prewarm_concurrency)
        self._inflight: dict[str, asyncio.Future[tuple[bytes, str]]] = {}
        self._io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tts-cache-io")
        self._remove_stale_temp_files()

    def key(self, text: str, rate: int) -> str:
        """Hex digest naming the entry for `text` at `rate` with the synthesizer's current voice."""
        v = self.synthesizer.voice_key
        ident = [v.engine, v.voice, v.wpm, round(v.volume, 3), rate, clean(text)]
        return hashlib.sha256(json.dumps(ident, ensure_ascii=False).encode()).hexdigest()

    def path(self, text: str, rate: int) -> Path:
        """Where the entry for `text` at `rate` lives (whether or not it exists yet)."""
        return self._path(self.key(text, rate))

    async def get_or_synthesize(self, text: str, rate: int) -> bytes:
        """PCM16 for `text` at `rate`: from memory, from disk, or synthesized once and stored."""
        pcm, _source = await self._get(text, rate)
        return pcm

    async def lookup(self, text: str, rate: int) -> bytes | None:
        """PCM16 if `text` at `rate` is cached, else None; never synthesizes."""
        check_call_rate(rate)
        if not speakable(text):
            return None
        await self.synthesizer.start()
        key = self.key(text, rate)
        pcm = self._recall(key)
        if pcm is None:
            pcm = await self._read(key, rate)
        return pcm

    async def prewarm(self, texts: Iterable[str], rate: int) -> PrewarmResult:
        """Make sure every prompt in `texts` is cached at `rate` (run when a flow is loaded or published)."""
        unique = list(dict.fromkeys(t for t in texts if speakable(t)))
        limit = asyncio.Semaphore(self._prewarm_concurrency)
        sources: list[str] = []
        failed: list[str] = []

        async def warm(text: str) -> None:
            # The semaphore keeps prewarming from queueing ahead of live calls on the one engine worker.
            async with limit:
                try:
                    _pcm, source = await self._get(text, rate)
                except SynthesisError as exc:
                    log.error("prewarm failed for %r: %s", text[:60], exc)
                    failed.append(text)
                else:
                    sources.append(source)

        await asyncio.gather(*(warm(t) for t in unique))
        return PrewarmResult(
            synthesized=sources.count("synthesized"),
            cached=len(sources) - sources.count("synthesized"),
            failed=tuple(failed),
        )

    def close(self) -> None:
        """Release the disk I/O threads."""
        self._io.shutdown(wait=False)

    async def _get(self, text: str, rate: int) -> tuple[bytes, str]:
        check_call_rate(rate)
        if not speakable(text):
            return b"", "empty"
        await self.synthesizer.start()
        key = self.key(text, rate)
        pcm = self._recall(key)
        if pcm is not None:
            self.stats.memory_hits += 1
            return pcm, "memory"
        task = self._inflight.get(key)
        if task is None:
            # Shared and shielded: callers asking for the same prompt wait for one synthesis, and a
            # caller hanging up does not throw away audio the next caller will want.
            task = asyncio.ensure_future(self._load(key, text, rate))
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._settled(key, t))
        return await asyncio.shield(task)

    def _settled(self, key: str, task: asyncio.Future[tuple[bytes, str]]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # every waiter may have gone; the error was logged or raised to them

    async def _load(self, key: str, text: str, rate: int) -> tuple[bytes, str]:
        pcm = await self._read(key, rate)
        if pcm is not None:
            self.stats.disk_hits += 1
            return pcm, "disk"
        self.stats.misses += 1
        pcm = await self.synthesizer.synthesize(text, rate)
        if not pcm:
            return pcm, "empty"
        self._remember(key, pcm)
        try:
            await asyncio.wrap_future(self._io.submit(self._write, self._path(key), pcm, rate))
        except OSError as exc:
            self._write_failed(exc)
        else:
            if self.last_error is not None:
                log.info("prompt cache writes to %s work again", self.directory)
            self.last_error = None
        return pcm, "synthesized"

    async def _read(self, key: str, rate: int) -> bytes | None:
        path = self._path(key)
        try:
            pcm = await asyncio.wrap_future(self._io.submit(self._read_file, path, rate))
        except _CorruptEntry as exc:
            self.stats.corrupt += 1
            log.warning("prompt cache entry %s is corrupt (%s); synthesizing it again", path, exc)
            try:
                path.unlink()
            except OSError:
                pass
            return None
        if pcm is not None:
            self._remember(key, pcm)
        return pcm

    @staticmethod
    def _read_file(path: Path, rate: int) -> bytes | None:
        try:
            with wave.open(str(path), "rb") as w:
                shape = (w.getnchannels(), w.getsampwidth(), w.getframerate())
                frames = w.getnframes()
                pcm = w.readframes(frames)
        except FileNotFoundError:
            return None
        except (OSError, EOFError, wave.Error) as exc:
            raise _CorruptEntry(f"unreadable WAV: {exc}") from exc
        if shape != (1, 2, rate):
            raise _CorruptEntry(f"channels/width/rate {shape}, expected (1, 2, {rate})")
        if frames == 0 or len(pcm) != frames * 2:
            raise _CorruptEntry(f"truncated: {len(pcm)} bytes of audio, header says {frames * 2}")
        return pcm

    @staticmethod
    def _write(path: Path, pcm: bytes, rate: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem[:16]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                with wave.open(f, "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(rate)
                    w.writeframes(pcm)
                f.flush()
                # Data must be on disk before the rename publishes the name, or a power cut could
                # leave a complete-looking but empty entry.
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def _write_failed(self, exc: OSError) -> None:
        self.stats.write_errors += 1
        hint = "free disk space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "make it writable"
        error = PromptCacheError(
            f"cannot write to the prompt cache {self.directory} ({exc.strerror or exc}); {hint} or set "
            "[tts] cache_dir to another directory. Prompts are synthesized on every call until then."
        )
        # Log once per distinct cause, not once per call, while the disk stays full.
        if self.last_error is None or str(self.last_error) != str(error):
            log.error("%s", error)
        self.last_error = error

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.wav"

    def _recall(self, key: str) -> bytes | None:
        pcm = self._memory.get(key)
        if pcm is not None:
            self._memory.move_to_end(key)
        return pcm

    def _remember(self, key: str, pcm: bytes) -> None:
        if len(pcm) > self._memory_limit or key in self._memory:
            return
        self._memory[key] = pcm
        self._memory_bytes += len(pcm)
        while self._memory_bytes > self._memory_limit:
            _old, evicted = self._memory.popitem(last=False)
            self._memory_bytes -= len(evicted)

    def _remove_stale_temp_files(self) -> None:
        cutoff = time.time() - _STALE_TEMP_SECONDS
        for tmp in self.directory.glob("*/.*.tmp"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
            except OSError:
                pass

    def __repr__(self) -> str:
        return f"PromptCache({str(self.directory)!r}, entries_in_memory={len(self._memory)})"
