"""Start-up and housekeeping of the call records: open the store, close what a crash left open."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor

from ivr.core.config import Config
from ivr.session.journal import store_recording
from ivr.storage import CallStore
from recordings import purge_recordings, repair_recordings

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
    await store.sync_agents(config.agents)
    return store


async def purge_expired(store: CallStore, config: Config, executor: Executor) -> None:
    """Delete recordings past [recordings] retention_days (each gets an audit line) and mark their rows."""
    directory = config.path(config.recordings.dir)
    loop = asyncio.get_running_loop()
    for path in await loop.run_in_executor(executor, purge_recordings, directory, config.recordings.retention_days):
        store.recording_purged(path)


async def keep_purging(store: CallStore, config: Config, executor: Executor) -> None:
    """Apply the retention period every few hours while `ivr serve` runs."""
    while True:
        await asyncio.sleep(RETENTION_CHECK_SECONDS)
        try:
            await purge_expired(store, config, executor)
        except OSError as exc:
            log.error("recordings: retention purge failed: %s; retrying in %.0f h", exc, RETENTION_CHECK_SECONDS / 3600)
