"""Recordings on a real file system: alignment, flushing, crash repair, PCI pauses, checksums."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import subprocess
import sys
import textwrap
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from ivr.core.events import AudioChunk
from recordings import (
    CallRecorder,
    RecordingError,
    purge_recordings,
    record_tap,
    recording_path,
    repair_recordings,
)

RATE = 16000
FRAME = RATE // 50
REPO = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def tone(freq: float, n: int, start: int = 0, rate: int = RATE) -> bytes:
    t = (np.arange(n) + start) / rate
    return (8000 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def chunk(direction: str, at: float, pcm: bytes, rate: int = RATE) -> AudioChunk:
    return AudioChunk("c1", pcm=pcm, rate=rate, direction=direction, at=at)


def read_stereo(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (2, 2)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
        return frames, w.getframerate()


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if len(x) else 0.0


def test_both_legs_are_aligned_by_timestamp(tmp_path: Path) -> None:
    clock = Clock()
    rec = CallRecorder(tmp_path / "c1.wav", "c1", clock=clock, origin=100.0)
    out_sent = 0
    for i in range(100):  # 2 s of caller audio, with frames 40-49 (0.8-1.0 s) lost in the network
        clock.now = i * 0.02
        if not 40 <= i < 50:
            rec.write(chunk("in", 100.0 + i * 0.02, tone(440, FRAME, i * FRAME)))
        # the IVR prompt (0.5 s to 1.5 s) arrives in bursts of five frames stamped alike
        if i >= 25 and (i - 25) % 5 == 0 and out_sent < 50:
            for _ in range(5):
                rec.write(chunk("out", 100.0 + i * 0.02, tone(1000, FRAME, out_sent * FRAME)))
                out_sent += 1
    info = rec.close()
    frames, rate = read_stereo(tmp_path / "c1.wav")
    assert rate == RATE and info.status == "complete"
    assert info.duration == pytest.approx(2.0, abs=0.001) and len(frames) == 2 * RATE
    left, right = frames[:, 0], frames[:, 1]
    assert rms(right[: int(0.5 * RATE)]) == 0
    assert rms(right[int(0.5 * RATE) : int(1.5 * RATE)]) > 4000
    assert rms(right[int(1.5 * RATE) :]) == 0
    assert rms(left[int(0.8 * RATE) : int(1.0 * RATE)]) == 0  # the lost frames are a gap of silence
    assert rms(left[int(1.0 * RATE) :]) > 4000
    # audio after the gap sits exactly where its timestamps say
    np.testing.assert_array_equal(left[RATE : RATE + FRAME], np.frombuffer(tone(440, FRAME, RATE), "<i2"))


def test_narrowband_leg_is_resampled_to_the_recording_rate(tmp_path: Path) -> None:
    rec = CallRecorder(tmp_path / "nb.wav", "c1", origin=0.0)
    for i in range(50):
        rec.write(chunk("in", i * 0.02, tone(300, 160, i * 160, rate=8000), rate=8000))
        rec.write(chunk("out", i * 0.02, tone(500, FRAME, i * FRAME)))
    info = rec.close()
    frames, _ = read_stereo(Path(info.path))
    assert len(frames) == pytest.approx(RATE, abs=40)
    assert rms(frames[2000:14000, 0]) > 4000


def test_header_is_flushed_every_second_so_a_crash_loses_at_most_one(tmp_path: Path) -> None:
    clock = Clock()
    rec = CallRecorder(tmp_path / "live.wav", "c1", clock=clock, origin=0.0, flush_seconds=1.0)
    for i in range(250):  # 5 s, in real-time order
        clock.now = (i + 1) * 0.02
        rec.write(chunk("in", i * 0.02, tone(440, FRAME, i * FRAME)))
        if i % 25 == 24:  # every half second, read the file as another process would
            with wave.open(str(tmp_path / "live.wav"), "rb") as w:
                assert clock.now - w.getnframes() / RATE <= 1.0
    rec.close()


_CRASH = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from ivr.core.events import AudioChunk
    from recordings import CallRecorder, parse_key
    path, key = sys.argv[1], (parse_key(sys.argv[2]) if len(sys.argv) > 2 else None)
    now = [0.0]
    rec = CallRecorder(path, "crashed-call", clock=lambda: now[0], origin=0.0, key=key)
    pcm = (3000 * np.sin(np.arange(320) / 5)).astype("<i2").tobytes()
    for i in range(125):  # 2.5 s
        now[0] = (i + 1) * 0.02
        rec.write(AudioChunk("x", pcm=pcm, direction="in", at=i * 0.02))
    with open(path, "ab") as f:  # a write that was cut short by the crash
        f.write(b"\\x01\\x02\\x03\\x04\\x05\\x06\\x07")
    os._exit(9)
    """
)


_CRASH_PAUSED = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from ivr.core.events import AudioChunk
    from recordings import CallRecorder
    now = [0.0]
    rec = CallRecorder(sys.argv[1], "paused-call", clock=lambda: now[0], origin=0.0)
    pcm = (3000 * np.sin(np.arange(320) / 5)).astype("<i2").tobytes()
    for i in range(175):  # 3.5 s: a card number read out at 0.5-1.0 s, then another from 2.0 s until the crash
        now[0] = (i + 1) * 0.02
        if i in (25, 100):
            rec.pause(at=i * 0.02)
        if i == 50:
            rec.resume(at=i * 0.02)
        rec.write(AudioChunk("x", pcm=pcm, direction="in", at=i * 0.02))
    os._exit(9)
    """
)


def _crash(path: Path, *key: str, script: str = _CRASH) -> None:
    proc = subprocess.run([sys.executable, "-c", script, str(path), *key], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr


def test_repair_fixes_a_crashed_wav_and_marks_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "2026" / "03" / "02" / "crashed.wav"
    path.parent.mkdir(parents=True)
    _crash(path)
    done = CallRecorder(tmp_path / "fine.wav", "fine-call", origin=0.0)
    done.write(chunk("in", 0.0, tone(440, FRAME)))
    done.close()

    with caplog.at_level(logging.WARNING, logger="recordings"):
        (info,) = repair_recordings(tmp_path)
    assert (info.call_id, info.status, info.path) == ("crashed-call", "repaired", str(path))
    assert 1.5 <= info.duration <= 2.5
    frames, _ = read_stereo(path)  # a valid WAV again: header matches the data, torn bytes gone
    assert len(frames) / RATE == pytest.approx(info.duration)
    assert path.stat().st_size == 44 + len(frames) * 4
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert json.loads((path.parent / "crashed.wav.json").read_text())["status"] == "repaired"
    assert "left open by a crash" in caplog.text
    assert repair_recordings(tmp_path) == []  # nothing left to do


def test_repair_lists_the_pauses_of_a_crashed_recording_one_still_running_included(tmp_path: Path) -> None:
    path = tmp_path / "paused.wav"
    _crash(path, script=_CRASH_PAUSED)
    (info,) = repair_recordings(tmp_path)
    assert 2.2 <= info.duration <= 3.5
    (first_start, first_end), (second_start, second_end) = info.pauses
    assert (first_start, first_end, second_start) == pytest.approx((0.5, 1.0, 2.0), abs=0.03)
    assert second_end == info.duration  # the crash came in the pause: silence to the end of what was kept
    assert json.loads((tmp_path / "paused.wav.json").read_text())["pauses"] == [list(p) for p in info.pauses]
    frames, _ = read_stereo(path)
    assert rms(frames[int(0.55 * RATE) : int(0.95 * RATE)]) == 0 and rms(frames[int(2.05 * RATE) :]) == 0
    assert rms(frames[int(1.05 * RATE) : int(1.95 * RATE), 0]) > 1000


def test_checksum_on_close_and_sidecar(tmp_path: Path) -> None:
    rec = CallRecorder(tmp_path / "a.wav", "call-a", origin=0.0)
    for i in range(10):
        rec.write(chunk("in", i * 0.02, tone(440, FRAME, i * FRAME)))
    info = rec.close()
    assert info.sha256 == hashlib.sha256((tmp_path / "a.wav").read_bytes()).hexdigest()
    assert info.size_bytes == (tmp_path / "a.wav").stat().st_size
    side = json.loads((tmp_path / "a.wav.json").read_text())
    assert (side["status"], side["sha256"], side["call_id"]) == ("complete", info.sha256, "call-a")
    assert rec.close() is info


def test_pci_pause_writes_silence_and_keeps_timing(tmp_path: Path) -> None:
    rec = CallRecorder(tmp_path / "pci.wav", "c1", origin=0.0)
    for i in range(150):  # 3 s; card number read out between 1 s and 2 s
        if i == 50:
            rec.pause(at=i * 0.02)
        if i == 100:
            rec.resume(at=i * 0.02)
        rec.write(chunk("in", i * 0.02, tone(440, FRAME, i * FRAME)))
        rec.write(chunk("out", i * 0.02, tone(900, FRAME, i * FRAME)))
    info = rec.close()
    frames, _ = read_stereo(Path(info.path))
    assert len(frames) == 3 * RATE
    assert rms(frames[RATE : 2 * RATE]) == 0
    assert rms(frames[: RATE - 4000, 0]) > 4000 and rms(frames[2 * RATE + 4000 :, 1]) > 4000
    ((start, end),) = info.pauses
    assert start == pytest.approx(1.0, abs=0.03) and end == pytest.approx(2.0, abs=0.03)


def test_pci_pause_lasts_until_audio_is_kept_again_though_the_ivr_side_went_quiet(tmp_path: Path) -> None:
    # The IVR side has frames only while something plays (0-1 s and from 2.5 s); the caller's always.
    rec = CallRecorder(tmp_path / "quiet.wav", "c1", origin=0.0)
    for i in range(150):
        paused = 30 <= i < 90  # 0.6 s to 1.8 s, as sampled when each frame arrived
        rec.write(chunk("in", i * 0.02, tone(440, FRAME, i * FRAME)), silence=paused)
        if i < 50 or i >= 125:
            rec.write(chunk("out", i * 0.02, tone(900, FRAME, i * FRAME)), silence=paused)
    info = rec.close()
    assert info.pauses == ((0.6, 1.8),)
    frames, _ = read_stereo(Path(info.path))
    assert rms(frames[int(0.6 * RATE) : int(1.8 * RATE)]) == 0
    assert rms(frames[int(0.5 * RATE) : int(0.6 * RATE), 0]) > 4000 and rms(frames[int(1.8 * RATE) :, 0]) > 4000


def test_retention_purge_deletes_old_files_with_an_audit_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    day = 86400.0
    now = 1_800_000_000.0
    paths = []
    for name, age in [("old", 100), ("edge", 89), ("new", 1)]:
        started = now - age * day
        path = recording_path(tmp_path, name, started, encrypted=False)
        rec = CallRecorder(path, name, origin=0.0, wall=functools.partial(float, started))
        rec.write(chunk("in", 0.0, tone(440, FRAME)))
        paths.append(rec.close().path)
    with caplog.at_level(logging.INFO, logger="ivr.audit"):
        purged = purge_recordings(tmp_path, 90, now=now)
    assert purged == [paths[0]]
    assert not Path(paths[0]).exists() and Path(paths[1]).exists() and Path(paths[2]).exists()
    (line,) = (tmp_path / "audit.log").read_text().splitlines()
    audit = json.loads(line)
    assert (audit["event"], audit["call_id"], audit["retention_days"]) == ("recording_purged", "old", 90)
    assert "recording purged" in caplog.text
    assert purge_recordings(tmp_path, 0, now=now) == []  # 0 keeps forever


async def test_record_tap_consumes_the_stream_and_pauses_frames_by_arrival_time(tmp_path: Path) -> None:
    rec = CallRecorder(tmp_path / "tap.wav", "c1", origin=0.0)

    async def tap() -> AsyncIterator[AudioChunk]:
        for i in range(100):
            if i == 30:
                rec.pause(at=0.6)
            if i == 50:  # the step ended at 1.2 s, but frames up to then were still queued for the writer
                rec.resume(at=1.2)
            yield chunk("in", i * 0.02, tone(440, FRAME, i * FRAME))

    info = await record_tap(tap(), rec)
    frames, _ = read_stereo(Path(info.path))
    assert info.status == "complete" and len(frames) == 2 * RATE
    assert rms(frames[int(0.6 * RATE) : int(1.2 * RATE), 0]) == 0
    assert rms(frames[int(1.2 * RATE) :, 0]) > 4000
    # The listed pause is where frames were silenced, though they were written later in batches.
    assert info.pauses == ((0.6, 1.2),) and not rec.paused


def test_bad_direction_is_an_error(tmp_path: Path) -> None:
    rec = CallRecorder(tmp_path / "x.wav", "c1")
    with pytest.raises(RecordingError, match="neither 'in' nor 'out'"):
        rec.write(chunk("sideways", 0.0, tone(440, FRAME)))
    rec.close()
