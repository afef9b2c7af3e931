"""Recording a call's tap stream without ever blocking or failing the call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import Executor

from ivr.core.events import AudioChunk
from recordings.errors import RecordingError
from recordings.recorder import CallRecorder
from recordings.sidecar import RecordingInfo

log = logging.getLogger("recordings")

# Frames handed to the file-writing executor at once: 10 per direction is 200 ms of audio.
_BATCH = 20


async def record_tap(
    tap: AsyncIterator[AudioChunk], recorder: CallRecorder, executor: Executor | None = None
) -> RecordingInfo:
    """Write `tap` to `recorder` until it ends (hangup), file I/O in `executor`; returns the closed file's info.

    A RecordingError (disk full, ...) is logged and recording stops, but the tap is still
    drained so the call goes on untouched. A PCI pause covers the frames that arrived while it
    lasted (by their `at`), even those written after it ended.
    """
    loop = asyncio.get_running_loop()
    batch: list[AudioChunk] = []

    def write(frames: list[AudioChunk]) -> None:
        for chunk in frames:
            recorder.write(chunk)

    async def drain(frames: list[AudioChunk]) -> None:
        try:
            await loop.run_in_executor(executor, write, frames)
        except RecordingError as exc:
            log.error("recordings: %s", exc)

    try:
        async for chunk in tap:
            if recorder.error is not None:
                continue
            batch.append(chunk)
            if len(batch) >= _BATCH:
                await drain(batch)
                batch = []
        if batch:
            await drain(batch)
    finally:
        info = await loop.run_in_executor(executor, recorder.close)
    return info
