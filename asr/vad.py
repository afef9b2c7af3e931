"""Voice activity detection: webrtcvad on 10, 20 or 30 ms frames of 8 or 16 kHz PCM16."""

from __future__ import annotations

import webrtcvad

from ivr.core.audio import check_call_rate, frame_bytes, rms_dbfs
from ivr.core.errors import AudioFormatError, ConfigError

VAD_FRAME_MS = (10, 20, 30)
# webrtcvad judges spectral shape, not level: after loud speech it was measured flagging G.711-quantized
# line hiss at -60 dBFS as speech for up to a second. Real speech on a line sits far above this floor.
FLOOR_DBFS = -50.0


def check_vad_settings(rate: int, frame_ms: int, aggressiveness: int) -> None:
    """Raise a clear error if webrtcvad cannot run with these settings."""
    check_call_rate(rate)
    if frame_ms not in VAD_FRAME_MS:
        raise ConfigError(f"[vad] frame_ms = {frame_ms} is not supported; use one of {VAD_FRAME_MS}")
    if aggressiveness not in (0, 1, 2, 3):
        raise ConfigError(
            f"[vad] aggressiveness = {aggressiveness} is out of range; use 0 (least) to 3 (most aggressive)"
        )


class VoiceActivityDetector:
    """Splits a stream of PCM16 chunks into VAD frames and says which frames hold speech."""

    def __init__(self, rate: int, frame_ms: int = 20, aggressiveness: int = 2) -> None:
        check_vad_settings(rate, frame_ms, aggressiveness)
        self.rate = rate
        self.frame_ms = frame_ms
        self.frame_bytes = frame_bytes(rate, frame_ms)
        self._vad = webrtcvad.Vad(aggressiveness)
        self._pending = b""

    def set_aggressiveness(self, aggressiveness: int) -> None:
        """Change how eagerly non-speech is filtered out (0..3) without losing buffered audio."""
        check_vad_settings(self.rate, self.frame_ms, aggressiveness)
        self._vad.set_mode(aggressiveness)

    def frames(self, pcm: bytes) -> list[tuple[bytes, bool]]:
        """Feed a chunk of any length; returns each complete frame with its speech flag."""
        if len(pcm) % 2:
            raise AudioFormatError(f"PCM16 chunk of {len(pcm)} bytes has half a sample; send whole samples")
        data = self._pending + pcm
        n = len(data) // self.frame_bytes * self.frame_bytes
        self._pending = data[n:]
        step = self.frame_bytes
        return [(data[i : i + step], self._is_speech(data[i : i + step])) for i in range(0, n, step)]

    def _is_speech(self, frame: bytes) -> bool:
        return rms_dbfs(frame) > FLOOR_DBFS and self._vad.is_speech(frame, self.rate)
