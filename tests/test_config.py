"""config.toml loading and IVR_* environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.core.config import load_config
from ivr.core.errors import ConfigError
from tests.conftest import REPO


def test_default_config_file_loads_and_every_key_is_commented() -> None:
    cfg = load_config(REPO / "config.toml", env={})
    assert cfg.sip.port == 5060 and cfg.workers.callers_per_worker == 2
    for line in (REPO / "config.toml").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            assert "#" in line, f"config.toml key without a comment: {line}"


def test_environment_overrides_nested_keys() -> None:
    env = {"IVR_SIP__PORT": "5062", "IVR_SIP__TRUNK__USER": "acme", "IVR_SIP__CODECS": "PCMA,PCMU",
           "IVR_KAMAILIO__ENABLED": "false", "IVR_VAD__MAX_UTTERANCE_SECONDS": "7.5"}  # fmt: skip
    cfg = load_config(REPO / "config.toml", env=env)
    assert cfg.sip.port == 5062
    assert cfg.sip.trunk.user == "acme"
    assert cfg.sip.codecs == ("PCMA", "PCMU")
    assert cfg.kamailio.enabled is False
    assert cfg.vad.max_utterance_seconds == 7.5


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[tts]\ncache_dir = "cache"\n')
    cfg = load_config(tmp_path / "c.toml", env={})
    assert cfg.path(cfg.tts.cache_dir) == tmp_path / "cache"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[sip]\nprot = 5060\n", {}, r"unknown key\(s\) \['prot'\] in \[sip\]"),
        ("[sip]\nport = 'x'\n", {}, "sip.port must be a whole number"),
        ("[sip\n", {}, "invalid TOML"),
        ("", {"IVR_SIP__PORT": "five"}, "IVR_SIP__PORT='five': sip.port needs a int"),
        ("", {"IVR_KAMAILIO__ENABLED": "maybe"}, "kamailio.enabled needs a bool"),
    ],
)
def test_bad_config_gets_a_clear_error(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, env=env)


def test_missing_config_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--config"):
        load_config(tmp_path / "nope.toml", env={})
