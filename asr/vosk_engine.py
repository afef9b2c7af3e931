"""Vosk (Kaldi) recognizer: the primary engine, streaming with partials and word confidences."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import vosk

from asr.models import check_vosk_model, model_sample_rate
from asr.stream import ExecutorRecognizer, ExecutorStream, Hypothesis
from ivr.core.audio import check_call_rate
from ivr.core.errors import ModelError
from ivr.core.events import WordInfo
from ivr.core.interfaces import Grammar, RecognizerCapabilities

log = logging.getLogger(__name__)

_UNK = "[unk]"
# Asking Kaldi for a partial result walks the lattice; every 200 ms is live enough for barge-in and
# display, and was measured to cut CPU several-fold against asking on every 20 ms frame.
_PARTIAL_EVERY_S = 0.2
_models: dict[Path, vosk.Model] = {}
_models_lock = threading.Lock()


def load_vosk_model(path: str | Path) -> vosk.Model:
    """Load a Vosk model once per process (later calls with the same path share it)."""
    p = check_vosk_model(path).resolve()
    with _models_lock:
        if p not in _models:
            vosk.SetLogLevel(-1)  # Kaldi's own logging goes to stderr; we log what matters ourselves
            started = time.monotonic()
            try:
                _models[p] = vosk.Model(str(p))
            except Exception as exc:
                raise ModelError(
                    f"Vosk could not load the model in {p} ({exc}); its files are damaged or of another "
                    "kind: unzip the model again or point [asr.vosk] model at a good copy"
                ) from exc
            log.info("vosk model %s loaded in %.1f s", p, time.monotonic() - started)
        return _models[p]


class VoskRecognizer(ExecutorRecognizer):
    """A loaded Vosk model; `stream()` gives each utterance its own KaldiRecognizer."""

    def __init__(
        self,
        model_path: str | Path,
        language: str,
        sample_rate: int = 16000,
        executor: Executor | None = None,
        workers: int = 2,
        clock: Callable[[], float] = time.monotonic,
        background_workers: int = 0,
    ) -> None:
        check_call_rate(sample_rate)
        self.model_path = Path(model_path)
        self.model = load_vosk_model(model_path)
        self.model_rate = model_sample_rate(self.model_path)
        self._start_executor(
            executor,
            workers,
            clock,
            RecognizerCapabilities(
                engine="vosk",
                language=language,
                sample_rate=sample_rate,
                grammar=True,
                partials=True,
                word_confidence=True,
                model=str(self.model_path),
            ),
            background=background_workers,
        )

    def stream(self, call_id: str, grammar: Grammar | None = None) -> ExecutorStream:
        """Start recognizing one utterance, optionally limited to a grammar's phrases."""
        grammar_json = self.grammar_json(grammar) if grammar is not None else None
        decoder = _VoskDecoder(self.model, self.model_rate, grammar_json)
        return self._stream(call_id, decoder, self.model_rate)

    def grammar_json(self, grammar: Grammar) -> str:
        """Vosk's phrase-list grammar: known phrases, plus "[unk]" unless strict (and the model has it)."""
        phrases: list[str] = []
        for phrase in grammar.phrases:
            text = " ".join(phrase.lower().split())
            missing = [w for w in text.split() if self.model.vosk_model_find_word(w) < 0]
            if missing:
                log.warning("grammar %s: dropping %r, the model does not know %s", grammar.name, phrase, missing)
            elif text and text not in phrases:
                phrases.append(text)
        if not phrases:
            raise ModelError(
                f"grammar {grammar.name!r}: none of its phrases are in the vocabulary of {self.model_path}; "
                "write them as the model's words (check spelling and language)"
            )
        if not grammar.strict and self.model.vosk_model_find_word(_UNK) >= 0:
            phrases.append(_UNK)
        return json.dumps(phrases, ensure_ascii=False)


class _VoskDecoder:
    """One KaldiRecognizer; Vosk's own mid-utterance endpoints are joined into one result."""

    def __init__(self, model: vosk.Model, rate: int, grammar_json: str | None) -> None:
        self._rec: Any = None
        self._args = (model, rate, grammar_json)
        self._done: list[dict[str, Any]] = []
        self._partial_bytes = int(_PARTIAL_EVERY_S * rate) * 2
        self._since_partial = 0

    def _recognizer(self) -> Any:
        # Created on the executor thread at the first chunk: building the grammar graph can take time.
        if self._rec is None:
            model, rate, grammar_json = self._args
            try:
                args = (model, rate, grammar_json) if grammar_json else (model, rate)
                rec = vosk.KaldiRecognizer(*args)
            except Exception as exc:
                raise ModelError(f"Vosk could not start a recognizer ({exc}); check the grammar and the model") from exc
            rec.SetWords(True)
            self._rec = rec
        return self._rec

    def accept(self, pcm: bytes) -> Hypothesis | None:
        rec = self._recognizer()
        if rec.AcceptWaveform(pcm):
            self._done.append(json.loads(rec.Result()))
            self._since_partial = 0
            return self._combine(None)
        self._since_partial += len(pcm)
        if self._since_partial < self._partial_bytes:
            return None
        self._since_partial = 0
        return self._combine(json.loads(rec.PartialResult()).get("partial", ""))

    def finish(self) -> Hypothesis:
        rec = self._recognizer()
        self._done.append(json.loads(rec.FinalResult()))
        return self._combine(None)

    def _combine(self, partial: str | None) -> Hypothesis:
        words: list[WordInfo] = []
        confs: list[float] = []
        for segment in self._done:
            for w in segment.get("result", []):
                conf = float(w.get("conf", 0.0))
                if w["word"] == _UNK:
                    confs.append(0.0)  # heard something outside the grammar: it lowers the confidence
                    continue
                confs.append(conf)
                words.append(WordInfo(w["word"], conf, float(w.get("start", 0.0)), float(w.get("end", 0.0))))
        text = " ".join(w.word for w in words)
        if partial is not None:
            tail = " ".join(t for t in partial.split() if t != _UNK)
            return Hypothesis(" ".join(t for t in (text, tail) if t))
        return Hypothesis(text, sum(confs) / len(confs) if confs else 0.0, tuple(words))
