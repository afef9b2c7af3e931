"""G.711, resampling and WAV handling in ivr.core.audio."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from ivr.core import audio
from ivr.core.errors import AudioFormatError
from tests.conftest import FSDD

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the stdlib reference implementation of G.711 (removed in 3.13)

ALL_SAMPLES = np.arange(-32768, 32768, dtype="<i2").tobytes()
ALL_CODES = bytes(range(256))


def test_ulaw_is_bit_exact_with_the_reference_encoder() -> None:
    assert audio.pcm16_to_ulaw(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES, 2)
    assert audio.ulaw_to_pcm16(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)


def test_alaw_is_bit_exact_with_the_reference_encoder() -> None:
    assert audio.pcm16_to_alaw(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES, 2)
    assert audio.alaw_to_pcm16(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


def _tone(rate: int, hz: float, seconds: float = 1.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * hz * t) * 10000).astype("<i2").tobytes()


@pytest.mark.parametrize(("src", "dst"), [(16000, 8000), (8000, 16000), (22050, 16000), (22050, 8000), (44100, 16000)])
def test_resampling_keeps_an_in_band_tone(src: int, dst: int) -> None:
    out = audio.resample(_tone(src, 440), src, dst)
    assert abs(len(out) // 2 - dst) <= 1
    assert abs(audio.rms_dbfs(out) - audio.rms_dbfs(_tone(dst, 440))) < 0.1


@pytest.mark.parametrize(("hz", "lo", "hi"), [(3400, -2.0, 0.5), (4500, -200, -40), (5000, -200, -60)])
def test_downsampling_keeps_the_phone_band_and_removes_what_8khz_cannot_carry(hz: int, lo: float, hi: float) -> None:
    # Above 4 kHz must be filtered out, not folded back into the speech band.
    x = _tone(16000, hz)
    gain = audio.rms_dbfs(audio.resample(x, 16000, 8000)[400:-400]) - audio.rms_dbfs(x)
    assert lo < gain < hi, gain


def test_streaming_resampler_matches_whole_buffer() -> None:
    x = _tone(22050, 300, 2.0)
    r = audio.Resampler(22050, 8000)
    chunks = [r.process(x[i : i + 882]) for i in range(0, len(x), 882)]
    assert b"".join(chunks) + r.process(b"", final=True) == audio.resample(x, 22050, 8000)


def test_telephone_roundtrip_of_real_speech_stays_close() -> None:
    pcm = audio.read_wav(FSDD / "5_george_0.wav", 16000)
    back = audio.telephone_roundtrip(pcm.data, 16000)
    a = np.frombuffer(pcm.data, "<i2").astype(float)
    b = np.frombuffer(back, "<i2").astype(float)
    snr = 10 * np.log10((a**2).sum() / ((a - b) ** 2).sum())
    assert snr > 25, snr  # μ-law's ~38 dB minus band-limiting of a signal already at 8 kHz


def test_unreadable_audio_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "not-audio.wav"
    bad.write_bytes(b"hello, this is not a RIFF file")
    with pytest.raises(AudioFormatError, match=r"not-audio\.wav"):
        audio.read_wav(bad)
    with pytest.raises(AudioFormatError, match="cannot open"):
        audio.read_wav(tmp_path / "missing.wav")


def test_unsupported_call_rate_is_refused() -> None:
    with pytest.raises(AudioFormatError, match="unsupported sample rate 11025"):
        audio.check_call_rate(11025)
