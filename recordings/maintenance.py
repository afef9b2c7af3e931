"""Start-up and housekeeping: repair recordings a crash left open, purge expired ones."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from recordings.crypto import truncate_torn_chunk
from recordings.errors import RecordingError
from recordings.sidecar import SUFFIX, RecordingInfo, file_sha256, read_sidecar, write_sidecar
from recordings.wav import repair_wav

log = logging.getLogger("recordings")
audit = logging.getLogger("ivr.audit")

AUDIT_LOG = "audit.log"


def _sidecars(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob(f"*{SUFFIX}") if p.is_file() and p.name != AUDIT_LOG)


def repair_recordings(directory: str | Path) -> list[RecordingInfo]:
    """Fix files left 'recording' by a crash (header, torn chunk, checksum); returns them as 'repaired'.

    Run it at start-up before any call is recorded, and store what it returns
    (e.g. `store.add_recording(..., status="repaired")`).
    """
    directory = Path(directory).resolve()
    if not directory.exists():
        return []
    repaired = []
    for side in _sidecars(directory):
        try:
            info = read_sidecar(side)
        except (OSError, ValueError) as exc:
            log.warning("recordings: skipping unreadable sidecar %s: %s", side, exc)
            continue
        if info.status != "recording":
            continue
        audio = side.with_name(side.name[: -len(SUFFIX)])
        if not audio.exists():
            write_sidecar(replace(info, path=str(audio), status="failed", error="no audio was written"))
            continue
        try:
            if info.encrypted:
                meta, plain = truncate_torn_chunk(audio)
                rate, channels = int(meta["rate"]), int(meta["channels"])
            else:
                rate, channels, plain = repair_wav(audio)
            digest, size = file_sha256(audio)
        except (OSError, ValueError, KeyError, RecordingError) as exc:
            log.error("recordings: cannot repair %s: %s; the file is left as it is", audio, exc)
            continue
        duration = plain / (2 * channels * rate)
        fixed = replace(
            info,
            path=str(audio),
            status="repaired",
            sample_rate=rate,
            channels=channels,
            duration=duration,
            pauses=_kept_pauses(info, duration),
            paused_from=None,
            sha256=digest,
            size_bytes=size,
            error="the recorder stopped without closing the file (crash); repaired at start-up",
        )
        write_sidecar(fixed)
        log.warning("recordings: repaired %s (%.1f s kept) left open by a crash", audio, fixed.duration)
        repaired.append(fixed)
    return repaired


def _kept_pauses(info: RecordingInfo, duration: float) -> tuple[tuple[float, float], ...]:
    """The pauses the sidecar noted, one still running at the crash included, within the audio that was kept."""
    spans = list(info.pauses)
    if info.paused_from is not None:
        spans.append((info.paused_from, duration))
    return tuple((start, min(end, duration)) for start, end in spans if start < duration)


def purge_recordings(directory: str | Path, retention_days: int, *, now: float | None = None) -> list[str]:
    """Delete recordings older than `retention_days` (0 keeps forever), with an audit line for each."""
    directory = Path(directory).resolve()
    if retention_days <= 0 or not directory.exists():
        return []
    now = time.time() if now is None else now
    cutoff = now - retention_days * 86400
    purged = []
    for side in _sidecars(directory):
        try:
            info = read_sidecar(side)
        except (OSError, ValueError):
            continue
        if info.started_at >= cutoff or info.status == "recording":
            continue
        audio = side.with_name(side.name[: -len(SUFFIX)])
        try:
            audio.unlink(missing_ok=True)
            side.unlink()
        except OSError as exc:
            log.error("recordings: retention purge could not delete %s: %s; check its permissions", audio, exc)
            continue
        record = {
            "event": "recording_purged",
            "at": datetime.fromtimestamp(now, UTC).isoformat(),
            "path": str(audio),
            "call_id": info.call_id,
            "started_at": datetime.fromtimestamp(info.started_at, UTC).isoformat(),
            "retention_days": retention_days,
            "sha256": info.sha256,
        }
        audit.info("recording purged: %s", json.dumps(record, sort_keys=True))
        with open(directory / AUDIT_LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        purged.append(str(audio))
        _remove_empty_parents(side.parent, directory)
    return purged


def delete_recording(path: str | Path) -> bool:
    """Delete one recording and its sidecar (erasure, or a row the retention scan missed); True if one was there."""
    audio = Path(path)
    found = False
    for p in (audio, audio.with_name(audio.name + SUFFIX)):
        try:
            p.unlink()
            found = True
        except FileNotFoundError:
            continue
    return found


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_relative_to(stop):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
