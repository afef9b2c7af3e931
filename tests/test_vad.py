"""webrtcvad framing and speech flags on real recordings."""

from __future__ import annotations

import pytest

from asr.corpus import digit_takes, line_noise, phone_line
from asr.vad import VoiceActivityDetector
from ivr.core.audio import read_wav, resample, silence
from ivr.core.errors import AudioFormatError, ConfigError


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_speech_frames_are_flagged_and_silence_is_not(rate: int, frame_ms: int) -> None:
    take = digit_takes()[50]
    speech = resample(phone_line(take.pcm()), 8000, rate)
    vad = VoiceActivityDetector(rate, frame_ms, aggressiveness=2)
    quiet = vad.frames(silence(0.5, rate) + line_noise(0.5, rate))
    voiced = vad.frames(speech)
    # webrtcvad needs ~100 ms to learn the noise floor (and again after digital silence)
    assert sum(flag for _, flag in quiet) <= 0.1 * len(quiet)
    assert sum(flag for _, flag in voiced) >= 0.6 * len(voiced)
    assert all(len(frame) == rate * frame_ms // 1000 * 2 for frame, _ in quiet + voiced)


def test_chunks_of_any_size_are_split_into_whole_frames() -> None:
    pcm = read_wav(digit_takes()[0].path).data
    vad = VoiceActivityDetector(8000, 30)
    frames = []
    for i in range(0, len(pcm), 222):  # 111 samples: never a frame boundary
        frames += vad.frames(pcm[i : i + 222])
    assert len(frames) == len(pcm) // 480
    assert b"".join(f for f, _ in frames) == pcm[: len(frames) * 480]


def test_aggressiveness_changes_without_losing_buffered_audio() -> None:
    vad = VoiceActivityDetector(16000, 20, aggressiveness=0)
    assert vad.frames(b"\x00" * 100) == []
    vad.set_aggressiveness(3)
    assert len(vad.frames(b"\x00" * 540)) == 1


@pytest.mark.parametrize(
    ("rate", "frame_ms", "aggressiveness", "error"),
    [
        (44100, 20, 2, AudioFormatError),
        (8000, 25, 2, ConfigError),
        (8000, 20, 4, ConfigError),
    ],
)
def test_unusable_settings_are_refused_with_a_clear_error(
    rate: int, frame_ms: int, aggressiveness: int, error: type[Exception]
) -> None:
    with pytest.raises(error, match="use"):
        VoiceActivityDetector(rate, frame_ms, aggressiveness)


def test_half_a_sample_is_refused() -> None:
    with pytest.raises(AudioFormatError, match="whole samples"):
        VoiceActivityDetector(8000).frames(b"\x00\x00\x00")
