"""Start-up and housekeeping of the call records: open the store, close what a crash left open."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.core.config import Config, RecordingsConfig
from ivr.session.journal import store_recording
from ivr.storage import CallStore
from recordings import delete_recording, purge_recordings, repair_recordings

log = logging.getLogger("ivr.records")

RETENTION_CHECK_SECONDS = 6 * 3600.0


async def open_call_store(config: Config, executor: Executor, *, node: str = "") -> CallStore:
    """Migrate and start the store, mark calls a crash left open, repair and store their recordings, purge."""
    store = CallStore.from_config(config.storage, root=config.root, node=node)
    await store.start()
    interrupted = await store.mark_interrupted_calls()
    if interrupted:
        log.warning(
            "storage: %d call(s) were still open when the previous run stopped; marked interrupted: %s",
            len(interrupted),
            ", ".join(interrupted[:20]),
        )
    loop = asyncio.get_running_loop()
    directory = config.path(config.recordings.dir)
    for info in await loop.run_in_executor(executor, repair_recordings, directory):
        store_recording(store, info)
    await purge_expired(store, config, executor)
    added = await store.desk.seed(config.agents, config.queues)  # first start: the console manages them after
    if added:
        log.info("storage: from config.toml: %s", ", ".join(added))
    return store


@dataclass(frozen=True)
class PurgeReport:
    """What one retention run deleted, per kind of data."""

    days: dict[str, int | None] = field(default_factory=dict)
    recordings: int = 0
    turns: int = 0
    slots: int = 0


def retention_defaults(recordings: RecordingsConfig) -> dict[str, int | None]:
    """Retention when an admin has not set one: audio per [recordings] retention_days (0: forever), the rest forever."""
    return {"audio": recordings.retention_days or None, "transcripts": None, "slots": None}


async def apply_retention(
    store: CallStore, recordings: RecordingsConfig, root: Path, *, actor: str = "system", role: str = "system",
    executor: Executor | None = None, now: datetime | None = None,
) -> PurgeReport:  # fmt: skip
    """Delete audio, transcripts and slot values past their retention (the console's settings, else config).

    Each kind that deleted something gets one line in the console's audit log.
    """
    now = now or datetime.now(UTC)
    days = {r.kind: r.days for r in await store.qa.retention(retention_defaults(recordings))}
    loop = asyncio.get_running_loop()
    folder = Path(recordings.dir) if Path(recordings.dir).is_absolute() else root / recordings.dir
    files = 0
    if days["audio"]:
        audio_days, at = days["audio"], now.timestamp()
        purged = await loop.run_in_executor(executor, lambda: purge_recordings(folder, audio_days, now=at))
        for path in purged:  # files found by their sidecars' age
            store.recording_purged(path)
        # Rows whose file the sidecar scan did not meet (moved, or the sidecar is gone) are marked too.
        expired = await store.qa.expired_recordings(now - timedelta(days=days["audio"]))
        inside = folder.resolve()
        leftover = []
        for uid, path in expired:
            if path in purged:
                continue
            if not Path(path).resolve().is_relative_to(inside):  # an edited row must not delete files elsewhere
                log.warning("retention: recording %s is outside %s; not deleted", path, inside)
                continue
            await loop.run_in_executor(executor, delete_recording, path)
            leftover.append(uid)
        await store.qa.mark_purged(leftover)
        files = len(purged) + len(leftover)
    turns = await store.qa.purge_transcripts(now - timedelta(days=days["transcripts"])) if days["transcripts"] else 0
    slots = await store.qa.purge_slots(now - timedelta(days=days["slots"])) if days["slots"] else 0
    for kind, count in (("audio", files), ("transcripts", turns), ("slots", slots)):
        if count:
            await store.console.audit(actor=actor, role=role, action="retention.purge", target=kind,
                                      detail={"deleted": count, "days": days[kind]}, address="")  # fmt: skip
            log.info("retention: deleted %d %s older than %s days", count, kind, days[kind])
    return PurgeReport(days=days, recordings=files, turns=turns, slots=slots)


async def purge_expired(store: CallStore, config: Config, executor: Executor) -> None:
    """Apply retention to recordings, transcripts and slot values (each purge gets an audit line)."""
    await apply_retention(store, config.recordings, Path(config.root), executor=executor)


async def keep_purging(store: CallStore, config: Config, executor: Executor) -> None:
    """Apply the retention period every few hours while `ivr serve` runs."""
    while True:
        await asyncio.sleep(RETENTION_CHECK_SECONDS)
        try:
            await purge_expired(store, config, executor)
        except OSError as exc:
            log.error("recordings: retention purge failed: %s; retrying in %.0f h", exc, RETENTION_CHECK_SECONDS / 3600)
