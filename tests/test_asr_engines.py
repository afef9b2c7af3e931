"""Choosing the engine from [asr] config, with the real models installed here."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from asr.engines import load_recognizer, prepare_models
from asr.moonshine_engine import MoonshineRecognizer
from asr.moonshine_model import prepare_moonshine
from ivr.core.config import AsrConfig, VoskConfig, load_config
from ivr.core.errors import AudioFormatError, ConfigError, ModelError
from tests.conftest import REPO


def test_auto_uses_vosk_when_a_model_for_the_language_is_found(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="asr"):
        rec = load_recognizer(AsrConfig(language="ko", sample_rate=8000))
    assert rec.capabilities.engine == "vosk" and rec.capabilities.sample_rate == 8000
    assert "engine=vosk language=ko model=" in caplog.text


def test_auto_falls_back_to_the_bundled_english_engine(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    config = AsrConfig(language="en-us", vosk=VoskConfig(cache_dir=str(tmp_path)))
    with caplog.at_level(logging.INFO, logger="asr"):
        rec = load_recognizer(config)
    assert rec.capabilities.engine == "moonshine+whisper"
    assert "no Vosk model for 'en-us'" in caplog.text and "engine=moonshine+whisper" in caplog.text


def test_engine_named_in_config_toml(tmp_path: Path) -> None:
    toml = tmp_path / "config.toml"
    toml.write_text('[asr]\nengine = "pocketsphinx"\nlanguage = "en-us"\nsample_rate = 8000\n')
    rec = load_recognizer(load_config(toml, env={}).asr)
    assert rec.capabilities.engine == "pocketsphinx"


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        (
            AsrConfig(engine="kaldi"),
            ConfigError,
            "unknown; use one of auto, vosk, moonshine, moonshine\\+whisper, whisper, pocketsphinx",
        ),
        (AsrConfig(engine="vosk", language="de"), ModelError, "python -m asr.models download de"),
        (AsrConfig(language="fr"), ModelError, "no Vosk model for language 'fr'"),
        (AsrConfig(engine="whisper", sample_rate=48000), AudioFormatError, "unsupported sample rate 48000"),
    ],
)
def test_unusable_configs_are_clear_errors(config: AsrConfig, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        load_recognizer(config)


def test_an_engine_without_one_time_work_has_nothing_to_prepare() -> None:
    assert prepare_models(AsrConfig(engine="whisper")) == "engine whisper: nothing to prepare"


def test_models_prepare_and_serve_use_the_configured_model_cache(tmp_path: Path) -> None:
    cache = tmp_path / "models" / "moonshine-base-en"  # [asr] model_cache_dir = "models", beside the config
    shutil.copytree(prepare_moonshine(), cache, copy_function=_link_or_copy)  # an already converted model
    toml = tmp_path / "config.toml"
    toml.write_text('[asr]\nengine = "moonshine"\nmodel_cache_dir = "models"\n')
    done = subprocess.run([sys.executable, "-m", "ivr", "models", "prepare", "--config", str(toml)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"converted Moonshine model in {cache} is up to date" in done.stdout
    rec = load_recognizer(load_config(toml, env={}).asr_section())
    assert isinstance(rec, MoonshineRecognizer)
    rec.close()
    assert rec.model.directory == cache.resolve()


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)  # 140 MB: a hard link when the cache is on the same file system
    except OSError:
        shutil.copy2(src, dst)
