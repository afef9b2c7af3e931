"""Shared vocabulary of the IVR: events, audio formats, config models, errors and interfaces."""
