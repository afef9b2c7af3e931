"""Audio formats at the edge: G.711 μ-law/A-law, resampling, frames, WAV reading.

Everything inside the IVR is 16-bit signed little-endian mono PCM ("PCM16").
"""

from __future__ import annotations

import math
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivr.core.errors import AudioFormatError

SUPPORTED_CALL_RATES = (8000, 16000)
FRAME_MS = 20


def frame_bytes(rate: int, ms: int = FRAME_MS) -> int:
    """Bytes in one PCM16 mono frame of `ms` milliseconds at `rate` Hz."""
    return rate * ms // 1000 * 2


def check_call_rate(rate: int) -> int:
    """Return `rate` if a call leg can deliver it, else raise AudioFormatError."""
    if rate not in SUPPORTED_CALL_RATES:
        raise AudioFormatError(f"unsupported sample rate {rate} Hz for call audio; use one of {SUPPORTED_CALL_RATES}")
    return rate


# --- G.711 ----------------------------------------------------------------------------

_BIAS = 0x84
_CLIP = 32635


def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    sample = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -sample, sample).astype(np.int16)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    sample = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, sample, -sample).astype(np.int16)


_ULAW_DECODE = _ulaw_decode_table()
_ALAW_DECODE = _alaw_decode_table()


def _segment(value: np.ndarray, ends: tuple[int, ...]) -> np.ndarray:
    return np.searchsorted(np.array(ends), value, side="left")


def _ulaw_encode_table() -> np.ndarray:
    # Reference G.711 encoder (Sun g711.c), evaluated once for all 65536 inputs.
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), 8159) + (_BIAS >> 2)
    seg = _segment(mag, (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF))
    uval = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0xF))
    return (uval ^ mask).astype(np.uint8)


def _alaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = _segment(mag, (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF))
    shift = np.where(seg < 2, 1, np.minimum(seg, 7))
    aval = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> shift) & 0xF))
    return (aval ^ mask).astype(np.uint8)


_ULAW_ENCODE = _ulaw_encode_table()
_ALAW_ENCODE = _alaw_encode_table()


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    """Encode PCM16 to G.711 μ-law."""
    s = np.frombuffer(pcm, dtype="<i2").astype(np.int32) + 32768
    return _ULAW_ENCODE[s].tobytes()


def ulaw_to_pcm16(data: bytes) -> bytes:
    """Decode G.711 μ-law to PCM16."""
    return _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def pcm16_to_alaw(pcm: bytes) -> bytes:
    """Encode PCM16 to G.711 A-law."""
    s = np.frombuffer(pcm, dtype="<i2").astype(np.int32) + 32768
    return _ALAW_ENCODE[s].tobytes()


def alaw_to_pcm16(data: bytes) -> bytes:
    """Decode G.711 A-law to PCM16."""
    return _ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def telephone_roundtrip(pcm: bytes, rate: int, law: str = "ulaw") -> bytes:
    """What a caller's audio sounds like after a G.711 phone line, back at `rate` Hz."""
    narrow = resample(pcm, rate, 8000)
    if law == "ulaw":
        narrow = ulaw_to_pcm16(pcm16_to_ulaw(narrow))
    elif law == "alaw":
        narrow = alaw_to_pcm16(pcm16_to_alaw(narrow))
    else:
        raise AudioFormatError(f"unknown companding law {law!r}; use 'ulaw' or 'alaw'")
    return resample(narrow, 8000, rate)


# --- resampling ----------------------------------------------------------------------

_HALF_TAPS = 16  # windowed-sinc half width in input samples: >60 dB stopband, cheap enough
_MAX_PHASES = 4096  # polyphase table rows (22050->16000 needs 320, 44100->8000 needs 80)
_ROLLOFF = 0.94  # cutoff just below Nyquist, so the transition band does not alias (3.4 kHz speech band kept)


def _sinc_kernel(t: np.ndarray, cutoff: float) -> np.ndarray:
    window = 0.5 + 0.5 * np.cos(np.pi * np.clip(t / (_HALF_TAPS + 1), -1.0, 1.0))
    return cutoff * np.sinc(cutoff * t) * window


class Resampler:
    """Stateful band-limited resampler for a stream of PCM16 chunks (no clicks at chunk edges)."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        if src_rate <= 0 or dst_rate <= 0:
            raise AudioFormatError(f"invalid sample rates {src_rate} -> {dst_rate}")
        g = math.gcd(src_rate, dst_rate)
        self.src_rate, self.dst_rate = src_rate, dst_rate
        self._up, self._down = dst_rate // g, src_rate // g
        self._cutoff = _ROLLOFF * min(1.0, dst_rate / src_rate)
        self._width = int(math.ceil(_HALF_TAPS / self._cutoff))
        self._offsets = np.arange(-self._width + 1, self._width + 1)
        # Output n sits at input position n*down/up, whose fractional part is one of `up`
        # phases: precompute each phase's taps once instead of evaluating sinc per sample.
        self._table: np.ndarray | None = None
        if self._up <= _MAX_PHASES:
            phases = np.arange(self._up)[:, None] / self._up
            self._table = _sinc_kernel(phases - self._offsets[None, :], self._cutoff)
        # History starts with `width` zeros so output sample 0 aligns with input sample 0.
        self._buf = np.zeros(self._width, dtype=np.float64)
        self._base = -self._width  # input index of _buf[0]
        self._next_out = 0  # index of the next output sample

    def process(self, pcm: bytes, final: bool = False) -> bytes:
        """Feed a chunk; returns all output whose input support is now available."""
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        if self.src_rate == self.dst_rate:
            return pcm
        self._buf = np.concatenate([self._buf, x])
        if final:
            self._buf = np.concatenate([self._buf, np.zeros(self._width)])
        last_input = self._base + len(self._buf) - 1
        # output n sits at input position n * down / up
        max_n = int(math.floor((last_input - self._width) * self._up / self._down))
        if final:
            max_n = int(math.ceil((last_input - self._width + 1) * self._up / self._down)) - 1
        if max_n < self._next_out:
            return b""
        n = np.arange(self._next_out, max_n + 1)
        centre = (n * self._down) // self._up
        idx = centre[:, None] + self._offsets[None, :]
        if self._table is not None:
            weights = self._table[(n * self._down) % self._up]
        else:
            pos = n * self._down / self._up
            weights = _sinc_kernel(pos[:, None] - idx, self._cutoff)
        local = np.clip(idx - self._base, 0, len(self._buf) - 1)
        y = np.sum(self._buf[local] * weights, axis=1)
        self._next_out = max_n + 1
        keep_from = int(math.floor(self._next_out * self._down / self._up)) - self._width
        drop = max(0, keep_from - self._base)
        self._buf = self._buf[drop:]
        self._base += drop
        return np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes()


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Resample a whole PCM16 buffer."""
    if src_rate == dst_rate:
        return pcm
    return Resampler(src_rate, dst_rate).process(pcm, final=True)


# --- files and levels -----------------------------------------------------------------


@dataclass(frozen=True)
class Pcm:
    """A block of PCM16 mono audio with its rate."""

    data: bytes
    rate: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.data) / 2 / self.rate


def read_wav(path: str | Path, rate: int | None = None) -> Pcm:
    """Read a PCM WAV file as mono PCM16, optionally resampled to `rate`."""
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, src_rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"{path}: not a readable PCM WAV file ({exc}); convert it with sox") from exc
    except OSError as exc:
        raise AudioFormatError(f"{path}: cannot open audio file ({exc})") from exc
    if width == 1:
        arr = (np.frombuffer(frames, dtype=np.uint8).astype(np.int16) - 128) << 8
    elif width == 2:
        arr = np.frombuffer(frames, dtype="<i2")
    elif width == 4:
        arr = (np.frombuffer(frames, dtype="<i4") >> 16).astype(np.int16)
    else:
        raise AudioFormatError(f"{path}: {8 * width}-bit WAV is not supported; use 16-bit PCM")
    if channels > 1:
        arr = arr.reshape(-1, channels).mean(axis=1).astype(np.int16)
    data = arr.astype("<i2").tobytes()
    if rate is not None and rate != src_rate:
        return Pcm(resample(data, src_rate, rate), rate)
    return Pcm(data, src_rate)


def write_wav(path: str | Path, pcm: bytes, rate: int, channels: int = 1) -> None:
    """Write PCM16 to a WAV file."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)


def rms_dbfs(pcm: bytes) -> float:
    """RMS level in dBFS (-inf dB is reported as -120)."""
    if not pcm:
        return -120.0
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    rms = math.sqrt(float(np.mean(x * x)))
    return 20 * math.log10(rms / 32768) if rms > 0 else -120.0


def silence(seconds: float, rate: int) -> bytes:
    """PCM16 digital silence."""
    return b"\x00\x00" * int(round(seconds * rate))
