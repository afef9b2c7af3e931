"""Call recordings: both legs to disk as the call runs, integrity, retention, PCI pauses, encryption."""

from __future__ import annotations

from recordings.crypto import decrypt_recording, iter_decrypted, parse_key
from recordings.errors import RecordingError
from recordings.maintenance import delete_recording, purge_recordings, repair_recordings
from recordings.recorder import CallRecorder, recording_path
from recordings.sidecar import RecordingInfo
from recordings.tap import record_tap

__all__ = [
    "CallRecorder",
    "RecordingError",
    "RecordingInfo",
    "decrypt_recording",
    "delete_recording",
    "iter_decrypted",
    "parse_key",
    "purge_recordings",
    "record_tap",
    "recording_path",
    "repair_recordings",
]
