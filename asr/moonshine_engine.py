"""Moonshine base-en recognizer: a bundled English engine whose cost grows with the utterance.

Moonshine's encoder runs on the audio it is given (about 25 ms of CPU a second of audio on one
thread), not on a fixed 30 s window like Whisper's, and its decoder costs 6-9 ms a step. A stream
collects the utterance and decodes it at `end()` (no partials):

- without a grammar, greedy text, with end-of-text blocked as the first token;
- with a grammar, a beam search over the phrases (one or more in a row, `asr.moonshine_search`).
  A strict grammar always gets its best parse; otherwise the parse wins when it is nearly as likely
  as the free text (the caller may have said something else).

Telephone audio reaches the model as 8 kHz speech upsampled to 16 kHz, nothing above 4 kHz; a
G.722 call brings wideband audio, and each is decoded at the rate it came at. Filling the empty
band with quiet noise was tried: it lifted a forced choice between the ten digit words from 90% to
96%, but once digits were decoded as a comma-separated grammar (below) it no longer helped (377 of
the 400 FSDD takes with it, 381 without) and it hurt phrases (intent accuracy 74% with it, 80.5%
without, on 123 espeak utterances), so the audio is only stripped of its DC offset.
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
from asr.moonshine_search import Scored, Start, TokenGrammar, free_beam, free_decode, grammar_search, posterior, start
from asr.stream import ExecutorRecognizer, ExecutorStream, Hypothesis, WholeUtterance
from ivr.core.audio import check_call_rate
from ivr.core.errors import ModelError
from ivr.core.interfaces import Grammar, RecognizerCapabilities

log = logging.getLogger(__name__)

_MAX_SECONDS = 30.0
_TOKENS_PER_SECOND = 8  # far above speech: caps a run-away repetition
_FREE_MARGIN = 2.0  # nats: how much less likely than the free text a non-strict grammar parse may be
_AUDIBLE_POWER = 10 ** (-50 / 10)  # -50 dBFS
# Over a phone line end-of-text as the first token is no proof of silence (P > 0.9 for 7 of the 400
# FSDD digits), but with a text the model hardly believes it is. Noise at -30 dBFS gave a grammar
# parse with a mean token log-probability of -4.8 and the free text "You" at -3.85; no right digit
# parse was below -3.2, and no free text of 123 espeak phrases below -1.7.
_NO_SPEECH = 0.5
_MIN_MEAN_LOGPROB = {True: -4.0, False: -2.5}  # grammar parse, free text


def condition(audio: np.ndarray) -> np.ndarray:
    """What the encoder hears: the audio without its DC offset (a phone line passes no DC)."""
    return (audio - float(np.mean(audio))).astype(np.float32)


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
        background_workers: int = 0,
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
            background=background_workers,
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
        if grammar is not None and strict:
            parses = grammar_search(self.model, first, grammar, max_tokens)
            if parses and _heard(parses[0], first, grammar=True):
                return Hypothesis(" ".join(parses[0].phrases), _confidence(parses))
            return Hypothesis("")  # nothing in the grammar was said
        # without a grammar the text is only logged and classified: greedy is enough and cheaper
        free = (free_decode if grammar is None else free_beam)(self.model, first, max_tokens)
        if grammar is not None:
            # a parse is taken only if nearly as likely as the free text: the search stops below that
            parses = grammar_search(self.model, first, grammar, max_tokens, floor=free.logprob - _FREE_MARGIN)
            if parses and _heard(parses[0], first, grammar=True):
                return Hypothesis(" ".join(parses[0].phrases), _confidence(parses))
        if not _heard(free, first, grammar=False):
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


def _heard(text: Scored, first: Start, grammar: bool) -> bool:
    """False for a text the model hardly believes over audio it thinks holds no speech (noise, a cough)."""
    mean = text.logprob / (len(text.tokens) + 1)
    return not (mean < _MIN_MEAN_LOGPROB[grammar] and first.p_no_speech > _NO_SPEECH)
