"""One recognizer stream per utterance: audio in on the event loop, decoding in an executor.

Every engine supplies a blocking `Decoder`; `ExecutorStream` does the asyncio side once for all of
them: it resamples call audio to the model's rate, feeds the decoder in order on an executor
thread (never on the loop), and yields partial and final `Transcript` events.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from asr.pool import DecodePool
from ivr.core.audio import Resampler
from ivr.core.errors import AudioFormatError, IvrError
from ivr.core.events import Transcript, WordInfo
from ivr.core.interfaces import RecognizerCapabilities

log = logging.getLogger(__name__)


class RecognitionError(IvrError):
    """Recognition failed, or a stream was used out of order."""


@dataclass(frozen=True)
class Hypothesis:
    """What a decoder heard so far (partial) or in the end (final)."""

    text: str
    confidence: float = 0.0
    words: tuple[WordInfo, ...] = ()


class Decoder(Protocol):
    """Blocking recognizer state for one utterance; only one executor thread calls it at a time."""

    def accept(self, pcm: bytes) -> Hypothesis | None:
        """Take PCM16 at the model's rate; return the current partial result, or None."""
        ...

    def finish(self) -> Hypothesis:
        """No more audio: the final result."""
        ...


class WholeUtterance:
    """Decoder for engines that hear an utterance at once: collects up to `max_seconds`, decodes at finish()."""

    def __init__(
        self, decode: Callable[[np.ndarray], Hypothesis], engine: str, rate: int = 16000, max_seconds: float = 30.0
    ) -> None:
        self._decode = decode
        self._engine = engine
        self._room = int(max_seconds * rate)
        self._max_seconds = max_seconds
        self._chunks: list[bytes] = []

    def accept(self, pcm: bytes) -> Hypothesis | None:
        """Keep the audio (nothing is heard before the end)."""
        if self._room > 0:
            chunk = pcm[: 2 * self._room]
            self._chunks.append(chunk)
            self._room -= len(chunk) // 2
            if len(chunk) < len(pcm):
                log.warning("utterance longer than %.0f s: %s hears only the start", self._max_seconds, self._engine)
        return None

    def finish(self) -> Hypothesis:
        """Decode the utterance as float32 samples in [-1, 1)."""
        audio = np.frombuffer(b"".join(self._chunks), dtype="<i2").astype(np.float32) / 32768.0
        return self._decode(audio)


_END = object()


class ExecutorStream:
    """RecognizerStream over a blocking Decoder, driven from the event loop."""

    def __init__(
        self,
        call_id: str,
        decoder: Decoder,
        executor: Executor,
        *,
        engine: str,
        rate: int,
        model_rate: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.call_id = call_id
        self._decoder = decoder
        self._executor = executor
        self._engine = engine
        self._clock = clock
        self._resampler = Resampler(rate, model_rate) if rate != model_rate else None
        self._inbox: asyncio.Queue[bytes | object] = asyncio.Queue()
        self._outbox: asyncio.Queue[Transcript | BaseException | object] = asyncio.Queue()
        self._ended = False
        self._drained = False  # the reader has seen the end: iterating again yields nothing
        self._pump: asyncio.Task[None] | None = None

    def push(self, pcm: bytes) -> None:
        """Feed PCM16 mono at the recognizer's sample_rate (call from the event loop)."""
        if self._ended:
            raise RecognitionError("push() after end(): start a new stream for the next utterance")
        if len(pcm) % 2:
            raise AudioFormatError(f"PCM16 chunk of {len(pcm)} bytes has half a sample; send whole samples")
        self._start()
        self._inbox.put_nowait(pcm)

    def end(self) -> None:
        """No more audio; a final Transcript will follow."""
        if not self._ended:
            self._ended = True
            self._start()
            self._inbox.put_nowait(_END)

    def cancel(self) -> None:
        """Drop the stream without a final result (the caller hung up)."""
        self._ended = True
        if self._pump is not None:
            self._pump.cancel()
        self._outbox.put_nowait(_END)

    async def __aiter__(self) -> AsyncIterator[Transcript]:
        self._start()
        while not self._drained:
            item = await self._outbox.get()
            if item is _END:
                self._drained = True
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Transcript)
            yield item

    def _start(self) -> None:
        if self._pump is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError as exc:
                raise RecognitionError("recognizer streams are used from a running asyncio event loop") from exc
            self._pump = loop.create_task(self._run(), name=f"asr-{self._engine}-{self.call_id}")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_partial = ""
        try:
            while True:
                item = await self._inbox.get()
                chunks: list[bytes] = []
                # Take everything already queued in one executor hop: fewer thread switches per frame.
                while item is not _END:
                    assert isinstance(item, bytes)
                    chunks.append(item)
                    if self._inbox.empty():
                        break
                    item = self._inbox.get_nowait()
                if chunks:
                    hyp = await loop.run_in_executor(self._executor, self._accept, b"".join(chunks))
                    if hyp is not None and hyp.text and hyp.text != last_partial:
                        last_partial = hyp.text
                        self._outbox.put_nowait(self._transcript(hyp, final=False))
                if item is _END:
                    final = await loop.run_in_executor(self._executor, self._finish)
                    self._outbox.put_nowait(self._transcript(final, final=True))
                    break
        except asyncio.CancelledError:
            raise
        except IvrError as exc:
            self._outbox.put_nowait(exc)
        except Exception as exc:  # an engine failed: surface it to the reader, never hang it
            err = RecognitionError(f"{self._engine} recognizer failed: {exc!r}; see the log, then retry the call")
            err.__cause__ = exc
            self._outbox.put_nowait(err)
        self._outbox.put_nowait(_END)

    def _accept(self, pcm: bytes) -> Hypothesis | None:
        if self._resampler is not None:
            pcm = self._resampler.process(pcm)
        return self._decoder.accept(pcm) if pcm else None

    def _finish(self) -> Hypothesis:
        if self._resampler is not None:
            tail = self._resampler.process(b"", final=True)
            if tail:
                self._decoder.accept(tail)
        return self._decoder.finish()

    def _transcript(self, hyp: Hypothesis, final: bool) -> Transcript:
        return Transcript(
            self.call_id,
            text=hyp.text,
            final=final,
            confidence=hyp.confidence,
            words=hyp.words,
            engine=self._engine,
            at=self._clock(),
        )


class ExecutorRecognizer:
    """What every engine shares: the executor its streams decode on (made here unless one is given)."""

    capabilities: RecognizerCapabilities

    def _start_executor(
        self,
        executor: Executor | None,
        workers: int,
        clock: Callable[[], float],
        capabilities: RecognizerCapabilities,
        background: int = 0,
    ) -> None:
        self.capabilities = capabilities
        self._clock = clock
        self._owns_executor = executor is None
        self._executor = executor or DecodePool(workers, background, name=f"asr-{capabilities.engine}")

    def background(self) -> ExecutorRecognizer:
        """The same model on the pool's background lane (bridged calls): its decodes never hold up a bot turn."""
        lane = getattr(self._executor, "background", None)
        if not isinstance(lane, Executor):
            raise RecognitionError("this recognizer's executor has no background lane; let it make its own pool")
        other = copy.copy(self)
        other._executor, other._owns_executor = lane, False
        return other

    def _stream(self, call_id: str, decoder: Decoder, model_rate: int) -> ExecutorStream:
        return ExecutorStream(
            call_id,
            decoder,
            self._executor,
            engine=self.capabilities.engine,
            rate=self.capabilities.sample_rate,
            model_rate=model_rate,
            clock=self._clock,
        )

    @property
    def threads(self) -> int:
        """How many of this recognizer's decodes run at once."""
        lane = getattr(self._executor, "threads", None)
        if isinstance(lane, int):
            return lane
        if isinstance(self._executor, DecodePool):
            return self._executor.workers + self._executor.background_workers
        return int(getattr(self._executor, "_max_workers", 1))

    @property
    def backlog(self) -> int:
        """Decode jobs waiting for a free recognizer thread (the decode backlog on /metrics)."""
        if isinstance(self._executor, DecodePool):
            return self._executor.backlog
        queue = getattr(self._executor, "_work_queue", None)  # ThreadPoolExecutor's queue: no public API gives it
        return queue.qsize() if queue is not None else 0

    def close(self) -> None:
        """Stop the executor this recognizer made (a loaded model stays loaded for the process)."""
        if self._owns_executor:
            self._executor.shutdown(wait=True, cancel_futures=True)
