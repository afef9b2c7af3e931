"""PocketSphinx recognizer with the en-US model bundled in its wheel (a light English fallback).

Measured on telephone digits it is far less accurate than Whisper (see bench/asr_accuracy.py), but
it costs little CPU. Grammars become JSGF searches.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import pocketsphinx

from asr.phrases import normalize_phrase
from asr.stream import ExecutorRecognizer, ExecutorStream, Hypothesis
from ivr.core.audio import check_call_rate
from ivr.core.errors import ModelError
from ivr.core.events import WordInfo
from ivr.core.interfaces import Grammar, RecognizerCapabilities

log = logging.getLogger(__name__)

MODEL_RATE = 16000
_FRAMES_PER_SECOND = 100
_DEFAULT_SEARCH = "_default"
_FILLERS = re.compile(r"^(<s>|</s>|<sil>|\[.*\]|\+\+.*\+\+)$")


class PocketsphinxRecognizer(ExecutorRecognizer):
    """PocketSphinx en-US; a pool of decoders (each holds its own copy of the acoustic model)."""

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
            raise ModelError(f"the bundled PocketSphinx model is US English; it cannot do {language!r}")
        self.model_dir = Path(model_dir) if model_dir else Path(pocketsphinx.get_model_path())
        self._hmm = self.model_dir / "en-us" / "en-us"
        self._dict = self.model_dir / "en-us" / "cmudict-en-us.dict"
        self._lm = self.model_dir / "en-us" / "en-us.lm.bin"
        missing = [str(p) for p in (self._hmm / "mdef", self._dict, self._lm) if not p.exists()]
        if missing:
            raise ModelError(f"PocketSphinx model files missing: {', '.join(missing)}; reinstall pocketsphinx")
        self._vocabulary = {
            re.sub(r"\(\d+\)$", "", line.split(maxsplit=1)[0]) for line in self._dict.read_text().splitlines() if line
        }
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._release(self._borrow())  # load one now so a broken model fails at start-up, not mid-call
        self._start_executor(
            executor,
            workers,
            clock,
            RecognizerCapabilities(
                engine="pocketsphinx",
                language=language,
                sample_rate=sample_rate,
                grammar=True,
                partials=False,
                word_confidence=False,
                model=str(self._hmm),
            ),
            background=background_workers,
        )

    def stream(self, call_id: str, grammar: Grammar | None = None) -> ExecutorStream:
        """Start recognizing one utterance, optionally limited to a grammar's phrases."""
        search = self.jsgf(grammar) if grammar is not None else None
        return self._stream(call_id, _SphinxDecoder(self, search), MODEL_RATE)

    def jsgf(self, grammar: Grammar) -> tuple[str, str]:
        """(search name, JSGF text) accepting one or more of the grammar's phrases in a row."""
        phrases = []
        for phrase in grammar.phrases:
            text = normalize_phrase(phrase)
            missing = [w for w in text.split() if w not in self._vocabulary or not re.fullmatch(r"[a-z']+", w)]
            if missing:
                log.warning("grammar %s: dropping %r, the dictionary lacks %s", grammar.name, phrase, missing)
            elif text and text not in phrases:
                phrases.append(text)
        if not phrases:
            raise ModelError(
                f"grammar {grammar.name!r}: none of its phrases are in the PocketSphinx dictionary; "
                "spell them as plain English words (numbers as words)"
            )
        body = " | ".join(phrases)
        text = f"#JSGF V1.0;\ngrammar g;\npublic <g> = ( {body} )+ ;\n"
        return "g" + hashlib.sha1(text.encode()).hexdigest()[:12], text

    def _borrow(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            return pocketsphinx.Decoder(
                hmm=str(self._hmm), dict=str(self._dict), lm=str(self._lm), samprate=MODEL_RATE, loglevel="FATAL"
            )
        except RuntimeError as exc:
            raise ModelError(f"PocketSphinx could not load {self._hmm} ({exc}); reinstall pocketsphinx") from exc

    def _release(self, decoder: Any) -> None:
        with self._lock:
            self._idle.append(decoder)


class _SphinxDecoder:
    """Collects one utterance and decodes it whole at finish() on a borrowed pooled decoder.

    Streaming decoding was measured to turn "ten of clubs" into "a fan of close": the model's batch
    cepstral mean normalization needs the whole utterance, so this engine gives no partials.
    """

    def __init__(self, recognizer: PocketsphinxRecognizer, search: tuple[str, str] | None) -> None:
        self._recognizer = recognizer
        self._search = search
        self._audio: list[bytes] = []

    def accept(self, pcm: bytes) -> Hypothesis | None:
        self._audio.append(pcm)
        return None

    def finish(self) -> Hypothesis:
        dec = self._recognizer._borrow()
        try:
            name = _DEFAULT_SEARCH
            if self._search is not None:
                name, text = self._search
                if dec.get_fsg(name) is None:
                    dec.add_jsgf_string(name, text)
            dec.activate_search(name)
            dec.start_utt()
            dec.process_raw(b"".join(self._audio), False, True)
            dec.end_utt()
            hyp = dec.hyp()
            if hyp is None or not hyp.hypstr:
                return Hypothesis("")
            words = tuple(
                WordInfo(
                    re.sub(r"\(\d+\)$", "", s.word),  # "zero(2)" is the 2nd pronunciation of "zero"
                    1.0,
                    s.start_frame / _FRAMES_PER_SECOND,
                    (s.end_frame + 1) / _FRAMES_PER_SECOND,
                )
                for s in dec.seg()
                if not _FILLERS.match(s.word)
            )
            return Hypothesis(hyp.hypstr, min(1.0, max(0.0, float(hyp.prob))), words)
        finally:
            self._recognizer._release(dec)
