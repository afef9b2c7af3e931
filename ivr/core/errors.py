"""Errors a user can meet. Every message says what went wrong and how to fix it."""

from __future__ import annotations


class IvrError(Exception):
    """Base class of every error a user or operator can meet."""


class ConfigError(IvrError):
    """config.toml or an IVR_* environment override is invalid."""


class AudioFormatError(IvrError):
    """Audio has a sample rate, width or channel count we cannot use."""


class TelephonyError(IvrError):
    """The SIP stack could not do what was asked (bind a port, place a call, ...)."""


class CallEndedError(TelephonyError):
    """An operation was attempted on a call that has already hung up."""


class ModelError(IvrError):
    """A speech model is missing, corrupt or of the wrong kind."""


class SynthesisError(IvrError):
    """Text-to-speech failed (engine missing, voice unknown, ...)."""


class FlowError(IvrError):
    """A call flow file is invalid."""
