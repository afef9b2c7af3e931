"""Voicemail: beep, record the caller until a finish key, silence or the time limit, save a WAV."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import numpy as np

from ivr.core.audio import rms_dbfs, write_wav
from ivr.core.events import RecordVoicemail, VoicemailRecorded
from ivr.core.interfaces import CallLeg

log = logging.getLogger(__name__)

RATE = 8000
_SILENCE_DBFS = -50.0
_SILENCE_ENDS_S = 5.0  # a caller who stops talking for this long is done


def beep(rate: int = 16000, seconds: float = 0.4, hz: float = 1000.0) -> bytes:
    """The tone before recording."""
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * hz * t) * 9000).astype("<i2").tobytes()


async def record_voicemail(
    leg: CallLeg, request: RecordVoicemail, directory: Path, keys: asyncio.Queue[str]
) -> VoicemailRecorded:
    """Record one message; returns the event the flow waits for (empty path if nothing was said)."""
    if request.beep:
        playback = await leg.play(beep(), 16000)
        wait = getattr(leg, "wait_playback", None)
        if wait is not None:
            await wait(playback)
    frames: list[bytes] = []
    finished = asyncio.Event()

    async def watch_keys() -> None:
        while await keys.get() not in request.finish_digits:
            pass
        finished.set()

    async def capture() -> None:
        quiet_since = time.monotonic()
        async for chunk in leg.audio(RATE):
            frames.append(chunk.pcm)
            if rms_dbfs(chunk.pcm) > _SILENCE_DBFS:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > _SILENCE_ENDS_S and len(frames) > 50:
                break
        finished.set()

    tasks = [asyncio.create_task(watch_keys()), asyncio.create_task(capture())]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(finished.wait(), request.max_seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    pcm = b"".join(frames)
    path = ""
    if pcm:
        folder = directory / (request.mailbox or "general")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{leg.call_id}-{request.request_id.replace('#', '-')}.wav"
        await asyncio.to_thread(write_wav, target, pcm, RATE)
        path = str(target)
        log.info(
            "call %s: voicemail for %s saved (%.1f s) to %s", leg.call_id, request.mailbox, len(pcm) / 2 / RATE, path
        )
    return VoicemailRecorded(leg.call_id, request_id=request.request_id, path=path, duration=len(pcm) / 2 / RATE)
