"""Generated hold music and queue announcements."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ivr.core.audio import rms_dbfs, write_wav
from ivr.session.hold import announcement, common_announcements, hold_music, load_hold_music


def test_hold_music_never_drops_to_silence_and_loops_without_a_click() -> None:
    pcm = hold_music(16000)
    assert len(pcm) == 16 * 16000 * 2
    frames = [rms_dbfs(pcm[i : i + 640]) for i in range(0, len(pcm), 640)]
    assert min(frames) > -36  # the pad never stops: a caller never hears dead air
    assert max(frames) < -12  # and it is quieter than prompts
    samples = np.frombuffer(pcm, "<i2").astype(int)
    typical_step = np.percentile(np.abs(np.diff(samples)), 99)
    assert abs(samples[0] - samples[-1]) < typical_step  # the loop seam is like any other sample step


def test_hold_music_at_8khz_and_from_a_file(tmp_path: Path) -> None:
    assert len(hold_music(8000)) == 16 * 8000 * 2
    wav = tmp_path / "music.wav"
    write_wav(wav, b"\x01\x00" * 8000, 8000)
    assert len(load_hold_music("music.wav", tmp_path)) == 2 * 16000  # resampled to the call rate
    assert load_hold_music("", tmp_path) == hold_music()


def test_announcements_say_place_and_wait() -> None:
    assert announcement(1, 0.0) == "You are next in line. Your call will be answered in less than a minute."
    assert announcement(3, 130.0) == "You are number 3 in line. Your estimated wait is about 3 minutes."
    assert announcement(2, None) == "You are number 2 in line. Please stay on the line."
    assert announcement(1, 0.0) in common_announcements()
