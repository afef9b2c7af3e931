"""Test and benchmark audio: real recordings from tests/data as a caller on a phone line would send them.

FSDD holds single spoken digits (8 kHz, `{digit}_{speaker}_{take}.wav`); `digit_sequence` joins five
of them with short pauses like an order number. `phone_line` is the G.711 μ-law trip to 8 kHz.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivr.core.audio import read_wav, resample, telephone_roundtrip

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
LINE_RATE = 8000


def data_dir() -> Path:
    """The recordings: $IVR_TEST_DATA, else tests/data in this repository (see its README for licences)."""
    env = os.environ.get("IVR_TEST_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "tests" / "data"


@dataclass(frozen=True)
class DigitTake:
    """One FSDD recording: a spoken digit."""

    path: Path
    digit: int
    speaker: str

    def pcm(self) -> bytes:
        """The recording as 8 kHz PCM16, DC removed (phone lines do not pass DC)."""
        x = np.frombuffer(read_wav(self.path, LINE_RATE).data, dtype="<i2").astype(np.float64)
        return np.round(x - x.mean()).astype("<i2").tobytes()


def digit_takes() -> list[DigitTake]:
    """All FSDD takes, sorted by file name."""
    out = []
    for path in sorted((data_dir() / "fsdd").glob("*.wav")):
        digit, speaker, _ = path.stem.split("_")
        out.append(DigitTake(path, int(digit), speaker))
    return out


def line_noise(seconds: float, rate: int = LINE_RATE, dbfs: float = -60.0, seed: int = 0) -> bytes:
    """Low white noise, like the hiss of a quiet phone line."""
    rng = np.random.default_rng(seed)
    amp = 32768 * 10 ** (dbfs / 20)
    return np.clip(rng.standard_normal(int(seconds * rate)) * amp, -32768, 32767).astype("<i2").tobytes()


def phone_line(pcm: bytes, rate: int = LINE_RATE, out_rate: int = LINE_RATE) -> bytes:
    """`pcm` after a G.711 μ-law line, delivered at `out_rate`."""
    return resample(telephone_roundtrip(pcm, rate), rate, out_rate)


def spoken_digits(takes: list[DigitTake], gap: float = 0.15, pad: float = 0.3, seed: int = 0) -> bytes:
    """Takes joined by `gap` s of line noise, with `pad` s before and after, at 8 kHz (before the line)."""
    parts = [line_noise(pad, seed=seed)]
    for i, take in enumerate(takes):
        if i:
            parts.append(line_noise(gap, seed=seed + i + 1))
        parts.append(take.pcm())
    parts.append(line_noise(pad, seed=seed + 99))
    return b"".join(parts)


def digit_sequences(takes: list[DigitTake], count: int, length: int = 5, seed: int = 7) -> list[list[DigitTake]]:
    """`count` random sequences of `length` takes, each by one speaker (a caller reading a number)."""
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[DigitTake]] = {}
    for take in takes:
        by_speaker.setdefault(take.speaker, []).append(take)
    speakers = sorted(by_speaker)
    out = []
    for i in range(count):
        pool = by_speaker[speakers[i % len(speakers)]]
        out.append([pool[j] for j in rng.choice(len(pool), size=length, replace=False)])
    return out


def clip(pcm: bytes, gain: float = 8.0) -> bytes:
    """Overdriven audio: amplified by `gain` and hard-clipped at full scale."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64) * gain
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()
