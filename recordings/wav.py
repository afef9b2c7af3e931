"""A PCM WAV file written as it grows: the header is patched in place on every flush."""

from __future__ import annotations

import os
import struct
from pathlib import Path

HEADER_BYTES = 44


def wav_header(rate: int, channels: int, data_bytes: int) -> bytes:
    """Canonical 44-byte header of a 16-bit PCM WAV."""
    block = channels * 2
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,
        channels,
        rate,
        rate * block,
        block,
        16,
        b"data",
        data_bytes,
    )


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """os.write until everything is written (a filling disk can accept part of a write)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class GrowingWav:
    """Appends interleaved PCM16 to a new WAV file; `flush()` makes what was written readable."""

    encrypted = False

    def __init__(self, path: Path, rate: int, channels: int, *, fsync: bool = False) -> None:
        self.path, self.rate, self.channels, self._fsync = path, rate, channels, fsync
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        self.data_bytes = 0
        self._buffer = bytearray()
        write_all(self._fd, wav_header(rate, channels, 0))

    def write(self, pcm: bytes) -> None:
        """Buffer interleaved frames (written out on flush)."""
        self._buffer += pcm

    def flush(self) -> None:
        """Write buffered audio and patch the header sizes; raises OSError (e.g. disk full)."""
        if self._buffer:
            pending = bytes(self._buffer)
            self._buffer.clear()
            write_all(self._fd, pending)
            self.data_bytes += len(pending)
        self._patch_header()
        if self._fsync:
            os.fsync(self._fd)

    def _patch_header(self) -> None:
        os.pwrite(self._fd, struct.pack("<I", 36 + self.data_bytes), 4)
        os.pwrite(self._fd, struct.pack("<I", self.data_bytes), 40)

    def abandon(self) -> None:
        """After a write error: make the header match what reached the disk, then close."""
        try:
            on_disk = os.fstat(self._fd).st_size - HEADER_BYTES
            block = 2 * self.channels
            self.data_bytes = max(0, on_disk - on_disk % block)
            os.ftruncate(self._fd, HEADER_BYTES + self.data_bytes)
            self._patch_header()
        except OSError:
            pass
        finally:
            os.close(self._fd)

    def close(self) -> None:
        """Flush and close (after an OSError the file stays open for abandon())."""
        self.flush()
        os.close(self._fd)

    @property
    def duration(self) -> float:
        """Seconds of audio written so far."""
        return self.data_bytes / (2 * self.channels * self.rate)


def repair_wav(path: Path) -> tuple[int, int, int]:
    """Fix the header of a WAV a crash left behind; returns (rate, channels, data bytes)."""
    with open(path, "r+b") as f:
        head = f.read(HEADER_BYTES)
        if len(head) < HEADER_BYTES or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError("no WAV header")
        channels, rate = struct.unpack("<HI", head[22:28])
        if channels < 1 or rate < 1:
            raise ValueError("bad WAV header")
        size = os.fstat(f.fileno()).st_size - HEADER_BYTES
        data = max(0, size - size % (2 * channels))
        f.truncate(HEADER_BYTES + data)
        f.seek(0)
        f.write(wav_header(rate, channels, data))
    return rate, channels, data
