"""Endpointing: turn per-frame VAD flags into utterances (quiet → starting → speaking → stopping).

The endpointer is pure logic over audio time (seconds of audio pushed since `start_at`), so it
needs no clock: feed it the caller's PCM and it returns, in order, `SpeechStarted`, the
utterance audio for the recognizer (`SpeechAudio`, leading padding included), and `SpeechEnded`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import deque
from dataclasses import dataclass
from typing import Any

from asr.vad import VoiceActivityDetector, check_vad_settings
from ivr.core.config import VadConfig
from ivr.core.errors import ConfigError
from ivr.core.events import SpeechEnded, SpeechStarted

# Inside a word the voiced frames can pause (the closure before a stop, a quiet fricative): an onset
# survives gaps up to this long; a longer gap means the sound was a click or a cough, not a turn.
_ONSET_GAP_MS = 120


class EndpointState(enum.Enum):
    """Where the endpointer is in a caller's turn."""

    QUIET = "quiet"
    STARTING = "starting"
    SPEAKING = "speaking"
    STOPPING = "stopping"


@dataclass(frozen=True)
class SpeechAudio:
    """Utterance audio for the recognizer; `at` is the audio time of its first sample."""

    pcm: bytes
    at: float


EndpointOutput = SpeechStarted | SpeechAudio | SpeechEnded


def vad_overrides(config: VadConfig, **overrides: Any) -> VadConfig:
    """A flow step's VAD settings: `config` with some fields replaced, validated."""
    unknown = set(overrides) - {f.name for f in dataclasses.fields(VadConfig)}
    if unknown:
        raise ConfigError(f"unknown VAD setting(s) {sorted(unknown)}; use fields of [vad] in config.toml")
    new = dataclasses.replace(config, **overrides)
    _check_config(new)
    return new


def _check_config(config: VadConfig) -> None:
    for name in (
        "min_speech_ms",
        "leading_padding_ms",
        "trailing_silence_ms",
        "complete_silence_ms",
        "early_decode_ms",
    ):
        if getattr(config, name) < 0:
            raise ConfigError(f"[vad] {name} = {getattr(config, name)} must not be negative")

    if config.max_utterance_seconds <= 0:
        raise ConfigError(f"[vad] max_utterance_seconds = {config.max_utterance_seconds} must be positive")


class Endpointer:
    """Finds where each caller turn starts and ends in a stream of call audio."""

    def __init__(self, call_id: str, config: VadConfig, rate: int, start_at: float = 0.0) -> None:
        check_vad_settings(rate, config.frame_ms, config.aggressiveness)
        _check_config(config)
        self.call_id = call_id
        self.rate = rate
        self.config = config
        self.state = EndpointState.QUIET
        self.end_reason = ""  # why the last turn ended: "silence", "max_length" or "flush"
        self._vad = VoiceActivityDetector(rate, config.frame_ms, config.aggressiveness)
        self._frame_s = config.frame_ms / 1000
        self._now = start_at  # audio time at the end of the last classified frame
        self._held: deque[tuple[bytes, float]] = deque()  # padding before onset, then the onset itself
        self._speech_start = 0.0
        self._speech_end = 0.0  # end of the last voiced frame
        self._gap_s = 0.0

    def reconfigure(self, config: VadConfig) -> None:
        """Apply a flow step's settings; frame size changes only while the caller is quiet."""
        check_vad_settings(self.rate, config.frame_ms, config.aggressiveness)
        _check_config(config)
        if config.frame_ms != self.config.frame_ms:
            if self.state is not EndpointState.QUIET:
                raise ConfigError("[vad] frame_ms cannot change in the middle of a turn; change it between turns")
            self._vad = VoiceActivityDetector(self.rate, config.frame_ms, config.aggressiveness)
            self._frame_s = config.frame_ms / 1000
        else:
            self._vad.set_aggressiveness(config.aggressiveness)
        self.config = config

    def push(self, pcm: bytes) -> list[EndpointOutput]:
        """Feed caller audio (any chunk size); returns what happened, in order."""
        out: list[EndpointOutput] = []
        for frame, voiced in self._vad.frames(pcm):
            at = self._now
            self._now += self._frame_s
            self._step(frame, voiced, at, out)
        return out

    @property
    def speech_end(self) -> float:
        """Audio time at the end of the open turn's last voiced frame."""
        return self._speech_end

    @property
    def silence_ms(self) -> float:
        """How long the caller has been quiet inside an open turn (0 unless stopping)."""
        return (self._now - self._speech_end) * 1000 if self.state is EndpointState.STOPPING else 0.0

    def end_turn(self, reason: str) -> list[EndpointOutput]:
        """End an open turn where its speech ended, before the trailing silence ran out (a complete answer)."""
        out: list[EndpointOutput] = []
        if self.state in (EndpointState.SPEAKING, EndpointState.STOPPING):
            self._end(reason, self._speech_end, out)
        self._reset()
        return out

    def flush(self) -> list[EndpointOutput]:
        """End an open turn now (the step or the call ended); returns its SpeechEnded if any."""
        out: list[EndpointOutput] = []
        if self.state in (EndpointState.SPEAKING, EndpointState.STOPPING):
            self._end("flush", self._speech_end, out)
        self._reset()
        return out

    def _step(self, frame: bytes, voiced: bool, at: float, out: list[EndpointOutput]) -> None:
        cfg = self.config
        if self.state is EndpointState.QUIET:
            self._held.append((frame, at))
            if voiced:
                self.state = EndpointState.STARTING
                self._speech_start, self._speech_end = at, at + self._frame_s
                self._gap_s = 0.0
                self._confirm_onset(out)
            else:
                self._trim_padding()
        elif self.state is EndpointState.STARTING:
            self._held.append((frame, at))
            if voiced:
                self._gap_s = 0.0
                self._speech_end = at + self._frame_s
                self._confirm_onset(out)
            else:
                self._gap_s += self._frame_s
                if self._gap_s * 1000 > _ONSET_GAP_MS + 1e-6:
                    self.state = EndpointState.QUIET  # too short to be speech: a cough, a click
                    self._trim_padding()
        else:
            out.append(SpeechAudio(frame, at))
            if voiced:
                self.state = EndpointState.SPEAKING
                self._speech_end = at + self._frame_s
            elif self.state is EndpointState.SPEAKING:
                self.state = EndpointState.STOPPING
            if self.state is EndpointState.STOPPING and (
                (self._now - self._speech_end) * 1000 >= cfg.trailing_silence_ms - 1e-6
            ):
                self._end("silence", self._speech_end, out)
            elif self._now - self._speech_start >= cfg.max_utterance_seconds - 1e-9:
                self._end("max_length", self._now, out)

    def _confirm_onset(self, out: list[EndpointOutput]) -> None:
        # the onset lasts from its first to its last voiced frame, short gaps included
        if (self._speech_end - self._speech_start) * 1000 < self.config.min_speech_ms - 1e-6:
            return
        self.state = EndpointState.SPEAKING
        out.append(SpeechStarted(self.call_id, at=self._speech_start))
        self._trim_padding(before=self._speech_start)
        if self._held:
            out.append(SpeechAudio(b"".join(f for f, _ in self._held), self._held[0][1]))
        self._held.clear()

    def _trim_padding(self, before: float | None = None) -> None:
        """Keep only `leading_padding_ms` of audio before the (possible) onset."""
        onset = self._now if before is None else before
        keep_from = onset - self.config.leading_padding_ms / 1000
        while self._held and self._held[0][1] < keep_from - 1e-9:
            self._held.popleft()

    def _end(self, reason: str, end_at: float, out: list[EndpointOutput]) -> None:
        self.end_reason = reason
        out.append(SpeechEnded(self.call_id, at=end_at, duration=end_at - self._speech_start))
        self._reset()

    def _reset(self) -> None:
        self.state = EndpointState.QUIET
        self._held.clear()
        self._gap_s = 0.0
