"""Moonshine first, Whisper second: the rescoring Whisper decodes a grammar turn only when Moonshine is unsure.

Moonshine costs tens of milliseconds a turn and Whisper tiny.en 0.5-1.3 CPU-s. On telephone digits
Moonshine's confidence (`asr.moonshine_engine`) tells its likely mistakes: over the 400 FSDD takes
and 40 five-digit strings, Moonshine alone got 381/400 and 37/40; sending the turns under 0.2 to
Whisper (one in 25) gave 385 and 39, under 0.5 (one in 11) 388 and 40, and Whisper alone got 391
and 39. The threshold is low because a second pass costs the caller its latency too (0.5-1.3 s).
Turns without a grammar stay with Moonshine.
A second pass runs only when no other decode is running: under load the caller gets Moonshine's
answer at once instead of waiting behind Whisper.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from asr.moonshine_engine import MoonshineRecognizer
from asr.stream import ExecutorRecognizer, ExecutorStream, Hypothesis, WholeUtterance
from asr.whisper_engine import WhisperRecognizer
from ivr.core.interfaces import Grammar, RecognizerCapabilities

log = logging.getLogger(__name__)

MODEL_RATE = 16000
UNSURE_BELOW = 0.2  # Moonshine confidence under which Whisper decodes a grammar turn again


@dataclass
class _Load:
    """Decodes running now (this one included) and whether one of them is a second pass."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    decoding: int = 0
    second_pass: bool = False


class TwoPassRecognizer(ExecutorRecognizer):
    """Moonshine for every turn; Whisper again for a grammar turn Moonshine is unsure of, CPU permitting."""

    def __init__(
        self,
        language: str = "en-us",
        sample_rate: int = 16000,
        executor: Executor | None = None,
        workers: int = 2,
        clock: Callable[[], float] = time.monotonic,
        unsure_below: float = UNSURE_BELOW,
        model_dir: str | Path | None = None,
        background_workers: int = 0,
    ) -> None:
        self._start_executor(
            executor,
            workers,
            clock,
            RecognizerCapabilities(
                engine="moonshine+whisper",
                language=language,
                sample_rate=sample_rate,
                grammar=True,
                partials=False,
                word_confidence=False,
            ),
            background=background_workers,
        )
        # both decode on this recognizer's executor, inside its streams
        self.first = MoonshineRecognizer(model_dir, language, sample_rate, executor=self._executor)
        # a Whisper replica for every thread of the pool, as WhisperRecognizer makes for its own pool
        self.second = WhisperRecognizer(language=language, sample_rate=sample_rate, executor=self._executor,
                                        workers=workers, background_workers=background_workers)  # fmt: skip
        self.capabilities = replace(
            self.capabilities, model=f"{self.first.capabilities.model} + {self.second.capabilities.model}"
        )
        self.unsure_below = unsure_below
        self._load = _Load()  # shared with the background() copy, so bridged calls' decodes count too
        self.second_passes = 0  # turns Whisper decoded again
        self.skipped = 0  # unsure turns left to Moonshine because other decodes were running

    def stream(self, call_id: str, grammar: Grammar | None = None) -> ExecutorStream:
        """Start recognizing one utterance, optionally constrained to a grammar's phrases."""
        decoder = WholeUtterance(lambda audio: self.recognize(audio, grammar), "Moonshine", MODEL_RATE)
        return self._stream(call_id, decoder, MODEL_RATE)

    def recognize(self, audio: np.ndarray, grammar: Grammar | None = None) -> Hypothesis:
        """Recognize float32 mono 16 kHz audio (blocking: run it in an executor)."""
        load = self._load
        with load.lock:
            load.decoding += 1
        try:
            heard = self.first.recognize(audio, grammar)
            if grammar is None or heard.confidence >= self.unsure_below:
                return heard
            with load.lock:
                spare = load.decoding == 1 and not load.second_pass  # nobody else is waiting for a decode
                load.second_pass = load.second_pass or spare
            if not spare:
                self.skipped += 1
                return heard
            try:
                self.second_passes += 1
                again = self.second.recognize(audio, grammar)
            finally:
                with load.lock:
                    load.second_pass = False
        finally:
            with load.lock:
                load.decoding -= 1
        log.debug("second pass: moonshine %r (%.2f) -> whisper %r (%.2f)", heard.text, heard.confidence,
                  again.text, again.confidence)  # fmt: skip
        return again if again.text or not heard.text else heard
