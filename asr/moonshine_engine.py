"""Moonshine base-en recognizer: a bundled English engine whose cost grows with the utterance.

Moonshine's encoder runs on the audio it is given (about 40 ms of CPU a second of speech on one
thread), not on a fixed 30 s window like Whisper's, and its decoder costs ~6 ms a token. A stream
collects the utterance and decodes it at `end()` (no partials):

- without a grammar, greedy text, with end-of-text blocked as the first token;
- with a grammar, a beam search over the phrases (one or more in a row, `asr.moonshine_search`).
  A strict grammar always gets its best parse; otherwise the parse wins when it is nearly as likely
  as the free text (the caller may have said something else).

Telephone audio reaches the model as 8 kHz speech upsampled to 16 kHz, with nothing above 4 kHz.
Moonshine never heard that in training: it often writes nothing at all or guesses. Filling the
empty band with quiet steady noise, as a wideband line would carry, was measured to lift forced
choice between the ten digit words from 90% to 96% on FSDD. Wideband audio (G.722) is left as is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from functools import lru_cache
from pathlib import Path

import numpy as np

from asr.moonshine_model import MODEL_RATE, load_moonshine, prepare_moonshine
from asr.moonshine_search import Scored, Start, TokenGrammar, free_decode, grammar_search, posterior, start
from asr.stream import ExecutorRecognizer, ExecutorStream, Hypothesis, WholeUtterance
from ivr.core.audio import check_call_rate
from ivr.core.errors import ModelError
from ivr.core.interfaces import Grammar, RecognizerCapabilities

log = logging.getLogger(__name__)

_MAX_SECONDS = 30.0
_TOKENS_PER_SECOND = 8  # far above speech: caps a run-away repetition
_NARROWBAND = 4000.0  # Hz: the top of a G.711 line
_NARROWBAND_SHARE = 1e-3  # of the energy above 4 kHz, below which the audio came over a narrowband line
_FILL_RMS = 0.01  # of full scale: the band noise level measured best (0.003: 95.5%, 0.01: 97.5%, 0.03: 95%)
_FREE_MARGIN = 2.0  # nats: how much less likely than the free text a non-strict grammar parse may be
_AUDIBLE_POWER = 10 ** (-50 / 10)  # -50 dBFS
# Over a phone line end-of-text as the first token is no proof of silence (P > 0.9 for 7 of the 400
# FSDD digits), but with a text the model hardly believes it is: silence, hiss and -30 dBFS noise gave
# a mean token log-probability of -4.7 to -5.7; no right digit was below -3.2.
_NO_SPEECH = 0.5
_MIN_MEAN_LOGPROB = -4.0


def narrowband(audio: np.ndarray) -> bool:
    """True if `audio` (16 kHz) holds (almost) nothing above 4 kHz, like upsampled telephone speech."""
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1.0 / MODEL_RATE)
    total = float(spectrum.sum())
    return total > 0 and float(spectrum[freqs > _NARROWBAND].sum()) < _NARROWBAND_SHARE * total


@lru_cache(maxsize=8)
def _band_noise(samples: int) -> np.ndarray:
    """Steady noise between 4 and 8 kHz at `_FILL_RMS` (fixed seed: the same audio decodes the same way)."""
    rng = np.random.default_rng(0)
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    spectrum[np.fft.rfftfreq(samples, 1.0 / MODEL_RATE) < _NARROWBAND] = 0
    noise = np.fft.irfft(spectrum, samples)
    return (noise * (_FILL_RMS / (np.sqrt(np.mean(noise**2)) + 1e-12))).astype(np.float32)


def condition(audio: np.ndarray) -> np.ndarray:
    """What the encoder hears: DC removed, and the empty upper band of telephone audio filled."""
    audio = (audio - float(np.mean(audio))).astype(np.float32)
    if narrowband(audio):
        # a power-of-two block of noise, cut to length: few distinct FFT sizes to cache
        size = 1 << max(12, (len(audio) - 1).bit_length())
        audio = audio + _band_noise(size)[: len(audio)]
    return audio


class MoonshineRecognizer(ExecutorRecognizer):
    """A loaded Moonshine model; each stream decodes its utterance once, at end()."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        language: str = "en-us",
        sample_rate: int = 16000,
        executor: Executor | None = None,
        workers: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_call_rate(sample_rate)
        if not language.lower().startswith("en"):
            raise ModelError(f"Moonshine base-en is English-only; it cannot do {language!r} (install a Vosk model)")
        directory = Path(model_dir) if model_dir else prepare_moonshine()
        self.model = load_moonshine(directory)
        self._start_executor(
            executor,
            workers,
            clock,
            RecognizerCapabilities(
                engine="moonshine",
                language=language,
                sample_rate=sample_rate,
                grammar=True,
                partials=False,
                word_confidence=False,
                model=str(directory),
            ),
        )

    def stream(self, call_id: str, grammar: Grammar | None = None) -> ExecutorStream:
        """Start recognizing one utterance, optionally constrained to a grammar's phrases."""
        if grammar is not None:
            self._grammar(grammar.phrases)  # a bad grammar fails here, not later in the executor
        decoder = WholeUtterance(lambda audio: self.recognize(audio, grammar), "Moonshine", MODEL_RATE, _MAX_SECONDS)
        return self._stream(call_id, decoder, MODEL_RATE)

    def recognize(self, audio: np.ndarray, grammar: Grammar | None = None) -> Hypothesis:
        """Recognize float32 mono 16 kHz audio with a flow's grammar (blocking: run it in an executor)."""
        if grammar is None:
            return self.decode(audio)
        return self.decode(audio, self._grammar(grammar.phrases), grammar.strict)

    @lru_cache(maxsize=32)  # noqa: B019 - a recognizer lives for the whole process
    def _grammar(self, phrases: tuple[str, ...]) -> TokenGrammar:
        grammar = TokenGrammar(phrases, self.model.tokenizer, capital=True, full_stop=True)
        if not grammar.phrases:
            raise ModelError("a grammar needs at least one non-empty phrase")
        return grammar

    def decode(self, audio: np.ndarray, grammar: TokenGrammar | None = None, strict: bool = False) -> Hypothesis:
        """Recognize float32 mono 16 kHz audio (blocking: run it in an executor)."""
        if len(audio) < MODEL_RATE // 10 or not audible(audio):
            return Hypothesis("")
        audio = condition(audio)
        first = start(self.model, self.model.encode(audio))
        max_tokens = 4 + int(_TOKENS_PER_SECOND * len(audio) / MODEL_RATE)
        parses = grammar_search(self.model, first, grammar, max_tokens) if grammar is not None else []
        best = parses[0] if parses and _heard(parses[0], first) else None
        if best is not None and strict:
            return Hypothesis(" ".join(best.phrases), _confidence(parses))
        if strict:
            return Hypothesis("")  # nothing in the grammar was said
        free = free_decode(self.model, first, max_tokens)
        if best is not None and best.logprob >= free.logprob - _FREE_MARGIN:
            return Hypothesis(" ".join(best.phrases), _confidence(parses))
        if not _heard(free, first):
            return Hypothesis("")
        confidence = float(np.exp(free.logprob / (len(free.tokens) + 1)))  # the mean token probability
        return Hypothesis(self.model.tokenizer.decode(free.tokens), confidence)


def audible(audio: np.ndarray) -> bool:
    """True if some 20 ms of `audio` reach -50 dBFS, the level below which the VAD never hears speech."""
    frame = MODEL_RATE // 50
    usable = len(audio) // frame * frame
    if usable == 0:
        return False
    power = np.mean(audio[:usable].reshape(-1, frame).astype(np.float64) ** 2, axis=1)
    return bool(power.max() >= _AUDIBLE_POWER)


def _confidence(parses: list[Scored]) -> float:
    """The best parse's share of the N-best, times the least share its tokens had at each step.

    The N-best of a narrow beam leaves out competitors, so its posterior alone was overconfident:
    of the FSDD digits answered with a posterior of 0.9 or more, 9 were wrong; with this product 1.
    """
    return posterior(parses) * parses[0].sure


def _heard(text: Scored, first: Start) -> bool:
    """False for a text the model hardly believes over audio it thinks holds no speech (noise, a cough)."""
    mean = text.logprob / (len(text.tokens) + 1)
    return not (mean < _MIN_MEAN_LOGPROB and first.p_no_speech > _NO_SPEECH)
