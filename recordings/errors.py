"""Errors of the recordings part."""

from __future__ import annotations

from ivr.core.errors import IvrError


class RecordingError(IvrError):
    """A recording could not be written, read, repaired or decrypted; the call itself goes on."""
