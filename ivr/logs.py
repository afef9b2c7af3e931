"""Logging set-up shared by every process (kept tiny: media workers import it at start-up)."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str, file: str = "", role: str = "MainProcess") -> None:
    """One log format for every process: time, process role (e.g. worker-w3), level, message."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if file:
        handlers.append(logging.FileHandler(file))
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format=f"%(asctime)s {role.replace('%', '%%')}[%(process)d] %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
