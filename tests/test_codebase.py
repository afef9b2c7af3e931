"""Style and architecture checks run with the suite: ruff, mypy and the import contracts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SOURCES = ["ivr", "asr", "tts", "flows", "telephony", "recordings", "tests", "bench"]
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; run scripts/setup --test")
    return found


def test_ruff_lint() -> None:
    proc = _run(_tool("ruff"), "check", *[s for s in SOURCES if (REPO / s).exists()])
    assert proc.returncode == 0, proc.stdout[-6000:]


def test_mypy() -> None:
    proc = _run(sys.executable, "-m", "mypy", *[s for s in SOURCES if (REPO / s).exists() and s != "bench"])
    assert proc.returncode == 0, proc.stdout[-6000:]


def test_import_contracts() -> None:
    proc = _run(_tool("lint-imports"))
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert "broken" not in proc.stdout.lower().replace("0 broken", "")


def test_the_test_recordings_ship_with_the_repository() -> None:
    # A fresh clone with no data folder beside it must pass the suite: the recordings are tracked, with licences.
    tracked = _run("git", "ls-files", "tests/data").stdout.split()
    assert sum(p.startswith("tests/data/fsdd/") and p.endswith(".wav") for p in tracked) == 400
    assert sum(p.startswith("tests/data/speech/") and p.endswith(".wav") for p in tracked) == 5
    readme = (REPO / "tests/data/README.md").read_text()
    assert "CC BY-SA 4.0" in readme and "Carnegie Mellon" in readme
