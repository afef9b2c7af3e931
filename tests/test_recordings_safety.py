"""Recordings under stress: encryption at rest, a full disk, a crash mid-chunk."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest

from ivr.core.config import RecordingsConfig
from ivr.core.events import AudioChunk
from recordings import (
    CallRecorder,
    RecordingError,
    decrypt_recording,
    iter_decrypted,
    parse_key,
    record_tap,
    repair_recordings,
)
from tests.conftest import skip_unless_ci
from tests.test_recordings import FRAME, RATE, _crash, chunk, read_stereo, tone

KEY_B64 = base64.b64encode(bytes(range(32))).decode()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(path: Path, key: bytes | None, seconds: float = 1.5) -> None:
    clock = Clock()  # flushes every 0.3 s of audio: several encrypted chunks
    rec = CallRecorder(path, "c1", key=key, origin=0.0, clock=clock, flush_seconds=0.5)
    for i in range(int(seconds * 50)):
        clock.now = i * 0.02
        rec.write(chunk("in", i * 0.02, tone(440, FRAME, i * FRAME)))
        rec.write(chunk("out", i * 0.02, tone(700, FRAME, i * FRAME)))
    rec.close()


def test_encrypted_recording_decrypts_to_the_same_wav(tmp_path: Path) -> None:
    key = parse_key(KEY_B64)
    _record(tmp_path / "plain.wav", None)
    _record(tmp_path / "secret.wav.enc", key)
    raw = (tmp_path / "secret.wav.enc").read_bytes()
    plain = (tmp_path / "plain.wav").read_bytes()
    assert b"RIFF" not in raw and plain[1000:1064] not in raw
    assert decrypt_recording(tmp_path / "secret.wav.enc", key) == plain
    assert b"".join(iter_decrypted(tmp_path / "secret.wav.enc", key)) == plain[44:]


def test_wrong_key_tampering_and_bad_keys_are_clear_errors(tmp_path: Path) -> None:
    key = parse_key(KEY_B64)
    path = tmp_path / "s.wav.enc"
    _record(path, key)
    with pytest.raises(RecordingError, match="another key"):
        decrypt_recording(path, parse_key("ab" * 32))
    data = bytearray(path.read_bytes())
    data[-100] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match="fails authentication"):
        decrypt_recording(path, key)
    with pytest.raises(RecordingError, match="needs 32"):
        parse_key(base64.b64encode(b"short").decode())
    with pytest.raises(RecordingError, match="not valid base64 or hex"):
        parse_key("not a key!")


def test_config_key_gives_encrypted_files(tmp_path: Path) -> None:
    cfg = RecordingsConfig(dir="recs", encryption_key=KEY_B64)
    rec = CallRecorder.for_call(cfg, "sip-call@10.0.0.1", root=tmp_path)
    rec.write(chunk("in", 0.0, tone(440, FRAME)))
    info = rec.close()
    assert info.encrypted and info.path.endswith("sip-call@10.0.0.1.wav.enc")
    assert Path(info.path).relative_to(tmp_path / "recs").parts[0].isdigit()  # YYYY/MM/DD
    out = tmp_path / "play.wav"
    out.write_bytes(decrypt_recording(info.path, parse_key(KEY_B64)))
    with wave.open(str(out)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (2, RATE, FRAME)


def test_crash_mid_chunk_of_an_encrypted_recording_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "crash.wav.enc"
    _crash(path, KEY_B64)
    (info,) = repair_recordings(tmp_path)
    assert info.status == "repaired" and info.encrypted
    pcm = b"".join(iter_decrypted(path, parse_key(KEY_B64)))  # every complete chunk, no final marker
    assert len(pcm) / 4 / RATE == pytest.approx(info.duration)
    assert 1.5 <= info.duration <= 2.5


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (about one second of 16 kHz stereo); skipped where mounting is not allowed."""
    mnt = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        skip_unless_ci("needs root to mount a tiny tmpfs")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode != 0:
        skip_unless_ci(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_is_a_clear_error_and_leaves_a_valid_file(tiny_disk: Path) -> None:
    clock = Clock()
    rec = CallRecorder(tiny_disk / "full.wav", "c-full", origin=0.0, clock=clock, flush_seconds=0.4)
    with pytest.raises(RecordingError, match="free disk space") as err:
        for i in range(500):  # 10 s would need 640 KB
            clock.now = i * 0.02
            rec.write(chunk("in", i * 0.02, tone(440, FRAME, i * FRAME)))
            rec.write(chunk("out", i * 0.02, tone(700, FRAME, i * FRAME)))
    assert "c-full" in str(err.value) and "call continues" in str(err.value)
    rec.write(chunk("in", 99.0, tone(440, FRAME)))  # later frames are ignored, no second error
    info = rec.close()
    assert info.status == "failed" and "free disk space" in info.error
    frames, _ = read_stereo(tiny_disk / "full.wav")  # what fitted is a valid WAV
    assert 0.3 < len(frames) / RATE < 1.1
    assert len(frames) / RATE == pytest.approx(info.duration)


async def test_full_disk_during_a_call_does_not_break_the_tap(tiny_disk: Path) -> None:
    rec = CallRecorder.for_call(RecordingsConfig(dir=str(tiny_disk), flush_seconds=0.3), "c-tap")
    delivered = 0

    async def tap() -> AsyncIterator[AudioChunk]:
        nonlocal delivered
        for i in range(400):
            delivered += 1
            yield chunk("in", i * 0.02, tone(440, FRAME, i * FRAME))
            yield chunk("out", i * 0.02, np.zeros(FRAME, "<i2").tobytes())

    info = await record_tap(tap(), rec)
    assert delivered == 400  # the tap was drained to the end
    assert info.status == "failed" and rec.error is not None
