"""What a queued caller hears: generated hold music, and position / estimated-wait announcements.

The music is made here with numpy, so it is ours to ship (royalty-free by construction): a slow
I-vi-IV-V progression in C major, each chord a soft sustained pad under a gentle arpeggio. The pad
never stops, so a caller never hears dead air that sounds like a dropped call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
from pathlib import Path

import numpy as np

from ivr.core.audio import read_wav
from ivr.core.errors import CallEndedError, TelephonyError
from ivr.core.interfaces import CallLeg

log = logging.getLogger(__name__)

RATE = 16000
_CHORDS = ((60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62))  # C, Am, F, G (MIDI notes)
_CHORD_SECONDS = 4.0
_NOTE_SECONDS = 0.5  # arpeggio step: two notes per second, a calm pace
_FADE_SECONDS = 0.6  # chords cross-fade, so the pad never dips
_PEAK = 0.3  # of full scale: about -16 dBFS RMS, well below prompt loudness


def _hz(midi: int) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _tone(hz: float, samples: np.ndarray, rate: int) -> np.ndarray:
    t = samples / rate
    # A little second and third harmonic make it warmer than a bare sine.
    return np.sin(2 * np.pi * hz * t) + 0.25 * np.sin(4 * np.pi * hz * t) + 0.1 * np.sin(6 * np.pi * hz * t)


@functools.lru_cache(maxsize=4)
def hold_music(rate: int = RATE) -> bytes:
    """One seamless loop (16 s) of the generated hold music as PCM16 mono at `rate`."""
    chord_n, note_n, fade_n = int(_CHORD_SECONDS * rate), int(_NOTE_SECONDS * rate), int(_FADE_SECONDS * rate)
    total = chord_n * len(_CHORDS)
    out = np.zeros(total)
    decay = np.exp(-3.0 * np.arange(note_n) / note_n) * np.minimum(1.0, np.arange(note_n) / (0.02 * rate))
    for i, chord in enumerate(_CHORDS):
        # The pad spans its chord plus half a fade either side; the linear fades of neighbours add
        # up to 1, and indices wrap around so the end of the loop flows into its start.
        idx = np.arange(i * chord_n - fade_n // 2, (i + 1) * chord_n + fade_n // 2)
        env = np.minimum(1.0, np.minimum(idx - idx[0], idx[-1] - idx) / fade_n)
        pad = sum(_tone(_hz(m - 12), idx, rate) for m in chord) / len(chord)
        np.add.at(out, idx % total, 0.45 * pad * env)
        pattern = [*chord, chord[0] + 12, chord[2], chord[1], chord[0] + 12, chord[1]]
        for j, midi in enumerate(pattern):
            at = i * chord_n + j * note_n
            out[at : at + note_n] += 0.55 * _tone(_hz(midi), np.arange(note_n), rate) * decay
    out *= _PEAK / np.max(np.abs(out))
    return (out * 32767).astype("<i2").tobytes()


def load_hold_music(path: str, root: Path, rate: int = RATE) -> bytes:
    """A queue's [[queues]] hold_music file at `rate`, or the generated music when `path` is empty."""
    if not path:
        return hold_music(rate)
    p = Path(path) if Path(path).is_absolute() else root / path
    return read_wav(p, rate).data


def announcement(position: int, ewt: float | None) -> str:
    """What a waiting caller is told: their place in line and, when known, the estimated wait."""
    place = "You are next in line." if position <= 1 else f"You are number {position} in line."
    if ewt is None:
        return f"{place} Please stay on the line."
    if ewt < 60:
        return f"{place} Your call will be answered in less than a minute."
    minutes = math.ceil(ewt / 60)
    return f"{place} Your estimated wait is about {minutes} minutes."


def common_announcements() -> list[str]:
    """Announcements worth synthesizing at start-up (the first places in line)."""
    return [announcement(p, e) for p in (1, 2, 3) for e in (None, 0.0)]


class HoldLine:
    """Loops hold music on a caller's leg; announcements interrupt it and the music resumes after."""

    def __init__(self, leg: CallLeg, music: bytes) -> None:
        self.leg = leg
        self.music = music
        self._loop: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    def start(self) -> None:
        """Start (or resume) the music loop, unless the line was closed."""
        if not self._closed and (self._loop is None or self._loop.done()):
            self._loop = asyncio.create_task(self._run(), name=f"hold-{self.leg.call_id}")

    async def pause(self) -> None:
        """Stop the music at once (it can be started again)."""
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)
        with contextlib.suppress(TelephonyError):
            await self.leg.stop_playback()

    async def close(self) -> None:
        """Stop for good: the agent answered, or the caller leaves the queue."""
        self._closed = True
        await self.pause()

    async def say(self, pcm: bytes) -> None:
        """Play `pcm` in place of the music, then carry on with the music."""
        async with self._lock:
            if self._closed:
                return
            await self.pause()
            with contextlib.suppress(CallEndedError):
                await play_to_end(self.leg, pcm)
            self.start()

    async def _run(self) -> None:
        try:
            while True:
                await play_to_end(self.leg, self.music)
        except CallEndedError:
            return


async def play_to_end(leg: CallLeg, pcm: bytes) -> None:
    """Play 16 kHz PCM and wait until it has played; CallEndedError if the call ended meanwhile."""
    playback = await leg.play(pcm, RATE)
    wait = getattr(leg, "wait_playback", None)
    if wait is None:
        await asyncio.sleep(len(pcm) / 2 / RATE)
    elif await wait(playback) and getattr(leg, "ended", False):
        raise CallEndedError(f"call {leg.call_id} ended")
