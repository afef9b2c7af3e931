"""Shared test configuration: where the real test data lives."""

from __future__ import annotations

from pathlib import Path

from asr.corpus import data_dir

REPO = Path(__file__).resolve().parent.parent
FSDD = data_dir() / "fsdd"  # real recordings in tests/data, with their licences (tests/data/README.md)
SPEECH = data_dir() / "speech"


def skip_unless_ci(reason: str) -> None:
    """Skip on a developer machine that lacks a system service; in CI (CI=true) fail instead.

    CI runs as root with everything scripts/setup installs, so a missing PostgreSQL or an
    unmountable tmpfs there is a broken set-up, never a reason to skip.
    """
    import os

    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI must run this test: fix the set-up)")
    pytest.skip(reason)
