"""pyttsx3 (espeak-ng) speech synthesis in one dedicated worker, so the event loop never blocks.

pyttsx3 is not thread-safe and espeak-ng is a process-wide singleton, so every engine call goes
through one thread. By default that thread drives the engine in a child process: a hung or
crashed espeak-ng is killed and restarted, a fatal library error cannot take the control process
down, and resampling runs off this process's GIL. `worker="thread"` keeps the engine in this
process instead. docs/tts.md has the measured trade-off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import aclosing
from typing import Any, Literal

from ivr.core.audio import check_call_rate
from ivr.core.config import TtsConfig
from ivr.core.errors import ConfigError, SynthesisError
from ivr.core.interfaces import SynthesizerCapabilities
from tts._espeak_worker import VoiceSettings
from tts._workers import EngineWorker, ProcessWorker, ThreadWorker
from tts.cache import VoiceKey
from tts.text import sentences

log = logging.getLogger(__name__)

ENGINE = "pyttsx3-espeak-ng"
WorkerKind = Literal["process", "thread"]
_END = object()


class _Job:
    """One sentence being synthesized: blocks arrive from the worker thread onto the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self.future: Future[None] | None = None
        self.cancelled = False  # read by the worker thread between blocks

    def emit(self, block: bytes) -> None:
        """Called on the worker thread with each block."""
        self._deliver(block)

    def finished(self, future: Future[None]) -> None:
        """Called on the worker thread when the sentence is done, failed or was cancelled."""
        if future.cancelled():
            return
        exc = future.exception()
        self._deliver(exc if exc is not None else _END)

    def _deliver(self, item: object) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:
            self.cancelled = True  # the event loop is gone (shutdown): nobody is listening

    def cancel(self) -> None:
        """Drop the sentence: not started yet, it never runs; running, the worker stops at the next block."""
        self.cancelled = True
        if self.future is not None:
            self.future.cancel()

    async def __aiter__(self) -> AsyncGenerator[bytes, None]:
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


class Pyttsx3Synthesizer:
    """Text to PCM16 with pyttsx3/espeak-ng; implements `ivr.core.interfaces.Synthesizer`."""

    def __init__(self, config: TtsConfig, *, worker: WorkerKind = "process", timeout: float = 10.0) -> None:
        if not 80 <= config.rate <= 500:
            raise ConfigError(f"[tts] rate = {config.rate} words per minute is out of range; use 80..500")
        if not 0.0 <= config.volume <= 1.0:
            raise ConfigError(f"[tts] volume = {config.volume} is out of range; use 0.0..1.0")
        if worker not in ("process", "thread"):
            raise ConfigError(f"unknown synthesis worker {worker!r}; use 'process' or 'thread'")
        self.settings = VoiceSettings(config.voice, config.rate, config.volume)
        self.worker_kind: WorkerKind = worker
        self.capabilities = SynthesizerCapabilities(engine=ENGINE)
        self.engine_calls = 0  # sentences sent to the engine (tests and metrics)
        self.worker: EngineWorker
        if worker == "process":
            self.worker = ProcessWorker(timeout)
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts-pyttsx3")
        else:
            self.worker = ThreadWorker()
            self._executor = ThreadWorker.executor
        self._version = ""
        self._start_lock = asyncio.Lock()

    @property
    def voice_key(self) -> VoiceKey:
        """What, besides text and sample rate, decides this engine's audio (the prompt cache key)."""
        if not self._version:
            raise SynthesisError("Pyttsx3Synthesizer is not started; `await synthesizer.start()` first")
        s = self.settings
        return VoiceKey(engine=f"{ENGINE}/{self._version}", voice=s.voice, wpm=s.wpm, volume=s.volume)

    async def start(self) -> None:
        """Start the worker and check the voice; raises SynthesisError if espeak-ng cannot run."""
        async with self._start_lock:
            if self._version:
                return
            try:
                info = await self._call(self.worker.open, self.settings)
            except SynthesisError:
                await self._call(self.worker.close)
                raise
            self._version = info["version"] or "unknown"
            self.capabilities = SynthesizerCapabilities(
                engine=ENGINE,
                voices=tuple(info["voices"]),
                extra={"espeak_ng": self._version, "worker": self.worker_kind},
            )
            s = self.settings
            log.info("espeak-ng %s ready in a %s (voice %s, %d wpm)", self._version, self.worker_kind, s.voice, s.wpm)

    async def aclose(self) -> None:
        """Stop the worker; `start()` or the next request starts it again."""
        await self._call(self.worker.close)
        self._version = ""

    async def __aenter__(self) -> Pyttsx3Synthesizer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def synthesize(self, text: str, rate: int) -> bytes:
        """Whole text to PCM16 at `rate`; b"" when nothing in it is speakable."""
        return b"".join([block async for block in self.stream(text, rate)])

    async def stream(self, text: str, rate: int) -> AsyncGenerator[bytes, None]:
        """PCM16 blocks in order, the first as soon as it is ready; close it (`aclosing`) on barge-in."""
        # Closing (or cancelling the consuming task) stops the worker synthesizing audio nobody will hear.
        async with aclosing(self.stream_sentences(sentences(text), rate)) as blocks:
            async for block in blocks:
                yield block

    async def stream_sentences(self, chunks: Sequence[str], rate: int) -> AsyncGenerator[bytes, None]:
        """Like `stream` for text already split by `tts.text.sentences`."""
        check_call_rate(rate)
        if not chunks:
            return
        await self.start()
        # One request per sentence, and at most one queued ahead: a long text never holds the
        # shared worker for long, and the next sentence is ready before the current one is heard.
        jobs = [self._submit(c, rate) for c in chunks[:2]]
        try:
            for i in range(len(chunks)):
                async for block in jobs[0]:
                    yield block
                jobs.pop(0)
                if i + 2 < len(chunks):
                    jobs.append(self._submit(chunks[i + 2], rate))
        finally:
            for job in jobs:
                job.cancel()

    def _submit(self, chunk: str, rate: int) -> _Job:
        self.engine_calls += 1
        job = _Job(asyncio.get_running_loop())
        job.future = self._executor.submit(self.worker.render, chunk, rate, self.settings, job)
        job.future.add_done_callback(job.finished)
        return job

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.wrap_future(self._executor.submit(fn, *args))
