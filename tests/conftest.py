"""Shared test configuration: where the real test data lives."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()
FSDD = SHARED_DATA / "fsdd"
SPEECH = SHARED_DATA / "speech"
