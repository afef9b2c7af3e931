"""CallRecorder: both legs of a call in one stereo file (caller left, IVR/agent right).

Fed AudioChunks of the call's tap ('in' caller, 'out' what the caller hears), it places
each frame at its timestamp: a late frame opens a gap of silence, a burst of early frames is
appended in order. Audio is committed a little behind the newest frame (so the slower
direction can catch up) and flushed to disk at least once per `flush_seconds`, with the
header patched each time, so a crash loses at most about a second.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ivr.core.audio import Resampler
from ivr.core.config import RecordingsConfig
from ivr.core.events import AudioChunk
from recordings.crypto import EncryptedWriter, parse_key
from recordings.errors import RecordingError
from recordings.sidecar import RecordingInfo, file_sha256, write_sidecar
from recordings.wav import GrowingWav

log = logging.getLogger("recordings")

_CHANNEL = {"in": 0, "out": 1}
# Frames this close to where the previous one ended are treated as contiguous (network jitter).
_JITTER_SECONDS = 0.04
# How far behind the newest frame audio is committed, so the other direction can catch up.
_LAG_SECONDS = 0.2


def recording_path(directory: Path, call_id: str, started_at: float, *, encrypted: bool) -> Path:
    """A new file name under directory/YYYY/MM/DD/ for this call."""
    day = datetime.fromtimestamp(started_at, UTC)
    folder = directory / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}"
    safe = re.sub(r"[^A-Za-z0-9_.@-]", "_", call_id)[:120] or "call"
    suffix = ".wav.enc" if encrypted else ".wav"
    path, n = folder / f"{safe}{suffix}", 1
    while path.exists():
        path, n = folder / f"{safe}-{n}{suffix}", n + 1
    return path


class CallRecorder:
    """Writes one call's two directions, time-aligned, to a growing stereo WAV (or encrypted file)."""

    def __init__(
        self,
        path: str | Path,
        call_id: str,
        *,
        rate: int = 16000,
        key: bytes | None = None,
        flush_seconds: float = 1.0,
        fsync: bool = False,
        origin: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path).resolve()
        self.rate = rate
        self._clock = clock
        self._origin = origin
        self._flush_every = max(0.05, flush_seconds - _LAG_SECONDS)
        self._jitter = int(_JITTER_SECONDS * rate)
        self._lag = int(_LAG_SECONDS * rate)
        self._cursor = [0, 0]  # next sample position of each direction
        self._pending = [bytearray(), bytearray()]  # uncommitted PCM16 from sample `_written` on
        self._written = 0
        self._resamplers: dict[int, Resampler] = {}
        self._switches: list[tuple[float, bool]] = []  # (time, paused): when PCI pauses began and ended
        self._pause_from: int | None = None  # sample where the silence of the current pause begins
        self._pause_to: dict[int, int] = {}  # channel -> where its first kept frame after that pause landed
        self._pauses: list[tuple[float, float]] = []
        self._error: RecordingError | None = None
        self._closed = False
        self.late_samples = 0
        self.info = RecordingInfo(call_id, str(self.path), wall(), rate, 2, key is not None)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_sidecar(self.info)  # first, so a crash right after creating the audio is found
            if key is not None:
                self._sink: GrowingWav | EncryptedWriter = EncryptedWriter(self.path, rate, 2, key, fsync=fsync)
            else:
                self._sink = GrowingWav(self.path, rate, 2, fsync=fsync)
        except OSError as exc:
            raise self._io_error(exc) from exc
        self._last_flush = clock()

    @classmethod
    def for_call(
        cls, cfg: RecordingsConfig, call_id: str, *, root: str | Path = ".", origin: float | None = None
    ) -> CallRecorder:
        """A recorder for `call_id` under the [recordings] dir, encrypted when a key is configured."""
        directory = Path(cfg.dir) if Path(cfg.dir).is_absolute() else Path(root) / cfg.dir
        key = parse_key(cfg.encryption_key) if cfg.encryption_key else None
        path = recording_path(directory, call_id, time.time(), encrypted=key is not None)
        return cls(
            path,
            call_id,
            rate=cfg.sample_rate,
            key=key,
            flush_seconds=cfg.flush_seconds,
            fsync=cfg.fsync,
            origin=origin,
        )

    # --- feeding -------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        """True while a PCI pause writes silence."""
        return bool(self._switches) and self._switches[-1][1]

    def paused_at(self, at: float) -> bool:
        """Whether a frame that arrived at `at` falls in a PCI pause."""
        for when, paused in reversed(self._switches):
            if at >= when:
                return paused
        return False

    @property
    def error(self) -> RecordingError | None:
        """Why recording stopped, if it did."""
        return self._error

    def pause(self, at: float | None = None) -> None:
        """PCI pause: frames that arrive from `at` (default now, the frames' clock) on are written as silence.

        Frames are judged by their arrival time, not by when they are written, so audio still
        queued for the writer when the pause ends is silenced too. Timing stays aligned.
        """
        if not self.paused:
            self._switches.append((self._clock() if at is None else at, True))

    def resume(self, at: float | None = None) -> None:
        """End a PCI pause: frames that arrive from `at` (default now) on are kept."""
        if self.paused:
            self._switches.append((self._clock() if at is None else at, False))

    def write(self, chunk: AudioChunk, *, silence: bool | None = None) -> None:
        """Add one frame; `silence` overrides whether a pause covers its arrival time `chunk.at`."""
        if self._error is not None or self._closed:
            return
        channel = _CHANNEL.get(chunk.direction)
        if channel is None:
            raise RecordingError(f"audio direction {chunk.direction!r} is neither 'in' nor 'out'")
        pcm = chunk.pcm
        if chunk.rate != self.rate:
            pcm = self._resamplers.setdefault(2 * chunk.rate + channel, Resampler(chunk.rate, self.rate)).process(pcm)
        silent = silence if silence is not None else self.paused_at(chunk.at)
        if silent:
            pcm = bytes(len(pcm))
            if self._pause_to:  # paused again before the other direction had a frame to keep
                self._end_pause()
            if self._pause_from is None:
                self._pause_from = max(self._cursor)  # everything after each cursor is still to come
                self._note_pauses()
        if self._origin is None:
            self._origin = chunk.at
        target = round((chunk.at - self._origin) * self.rate)
        cursor = self._cursor[channel]
        pos = target if target > cursor + self._jitter else cursor
        offset = pos - self._written
        if offset < 0:  # belongs to audio already on disk
            self.late_samples += min(-offset, len(pcm) // 2)
            pcm, offset = pcm[-2 * offset :], 0
        buf = self._pending[channel]
        if 2 * offset > len(buf):
            buf += bytes(2 * offset - len(buf))
        buf += pcm
        if not silent and self._pause_from is not None and channel not in self._pause_to:
            self._pause_to[channel] = self._written + offset
            if len(self._pause_to) == len(_CHANNEL):
                self._end_pause()
            self._note_pauses()
        self._cursor[channel] = self._written + len(buf) // 2
        self._commit(max(self._cursor) - self._lag)
        if self._clock() - self._last_flush >= self._flush_every:
            self._flush()

    def close(self) -> RecordingInfo:
        """Write what is left, finish the file, checksum it and return its description."""
        if self._closed:
            return self.info
        self._closed = True
        self.resume()
        self._end_pause()
        status = "failed"
        if self._error is None:
            try:
                self._commit(max(self._cursor))
                self._sink.close()
                status = "complete"
            except OSError as exc:
                self._fail(exc)
        try:
            digest, size = file_sha256(self.path)
        except OSError:
            digest, size = "", 0
        self.info = replace(
            self.info,
            status=status,
            duration=self._sink.duration,
            sha256=digest,
            size_bytes=size,
            pauses=tuple(self._pauses),
            error=str(self._error) if self._error else "",
        )
        try:
            write_sidecar(self.info)
        except OSError as exc:
            log.error("recordings: cannot update %s.json (%s); repair_recordings() will redo it", self.path, exc)
        return self.info

    # --- internals -----------------------------------------------------------------------

    def _end_pause(self) -> None:
        """List the pause just over as the span where both channels are silent.

        It is measured on the frames as written, not when pause()/resume() were called: `record_tap`
        samples the pause state as each frame arrives but writes them later, in batches. A direction
        with no frame kept since (nothing played to the caller) is silent up to the newest audio.
        """
        if self._pause_from is None:
            return
        start, end = self._pause_from, min(self._pause_to.get(ch, max(self._cursor)) for ch in _CHANNEL.values())
        self._pause_from, self._pause_to = None, {}
        if end > start:
            self._pauses.append((start / self.rate, end / self.rate))

    def _note_pauses(self) -> None:
        """Keep the sidecar's pauses current, so that after a crash `repair_recordings` still lists them.

        Audio kept again on one channel bounds the running pause; before that it is noted as `paused_from`.
        """
        pauses, paused_from = list(self._pauses), None
        if self._pause_from is not None:
            if self._pause_to:
                end = min(self._pause_to.values())
                if end > self._pause_from:
                    pauses.append((self._pause_from / self.rate, end / self.rate))
            else:
                paused_from = self._pause_from / self.rate
        try:
            write_sidecar(replace(self.info, pauses=tuple(pauses), paused_from=paused_from))
        except OSError as exc:
            log.error(
                "recordings: cannot note a PCI pause in %s.json (%s); if the process crashes before the call "
                "ends, the repaired recording will not list it",
                self.path,
                exc,
            )

    def _commit(self, upto: int) -> None:
        n = upto - self._written
        if n <= 0:
            return
        frames = np.zeros((n, 2), dtype="<i2")
        for ch, buf in enumerate(self._pending):
            take = min(n, len(buf) // 2)
            frames[:take, ch] = np.frombuffer(buf, dtype="<i2", count=take)
            del buf[: 2 * take]
        self._sink.write(frames.tobytes())
        self._written = upto

    def _flush(self) -> None:
        self._last_flush = self._clock()
        try:
            self._sink.flush()
        except OSError as exc:
            self._fail(exc)
            assert self._error is not None
            raise self._error from exc

    def _fail(self, exc: OSError) -> None:
        self._error = self._io_error(exc)
        log.error("%s", self._error)
        self._sink.abandon()

    def _io_error(self, exc: OSError) -> RecordingError:
        return RecordingError(
            f"recording of call {self.info.call_id} stopped at {self.path}: {exc.strerror or exc}; free disk "
            f"space there or point [recordings] dir at a larger volume (the call continues unrecorded)"
        )
