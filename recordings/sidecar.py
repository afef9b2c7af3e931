"""The JSON file beside each recording: what it is, and whether it was closed properly."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SUFFIX = ".json"


@dataclass(frozen=True)
class RecordingInfo:
    """A recording as the database should know it (`status`: recording, complete, repaired, failed)."""

    call_id: str
    path: str
    started_at: float
    sample_rate: int
    channels: int = 2
    encrypted: bool = False
    status: str = "recording"
    duration: float = 0.0
    sha256: str = ""
    size_bytes: int = 0
    pauses: tuple[tuple[float, float], ...] = field(default=())
    # Start (s) of a PCI pause with no audio kept after it yet, while recording: a crash leaves silence from there.
    paused_from: float | None = None
    error: str = ""


def sidecar_path(audio: Path) -> Path:
    """Where the sidecar of `audio` lives."""
    return audio.with_name(audio.name + SUFFIX)


def write_sidecar(info: RecordingInfo) -> None:
    """Replace the sidecar atomically (a crash leaves the old or the new one, never half)."""
    target = sidecar_path(Path(info.path))
    tmp = target.with_name(target.name + ".tmp")
    data = asdict(info)
    data["pauses"] = [list(p) for p in info.pauses]
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)


def read_sidecar(path: Path) -> RecordingInfo:
    """Load a sidecar; raises ValueError when it is not one of ours."""
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    raw["pauses"] = tuple(tuple(p) for p in raw.get("pauses", ()))
    try:
        return RecordingInfo(**raw)
    except TypeError as exc:
        raise ValueError(f"not a recording sidecar: {exc}") from exc


def file_sha256(path: Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file."""
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size
