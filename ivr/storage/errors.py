"""Errors of the storage part."""

from __future__ import annotations

from ivr.core.errors import IvrError


class StorageError(IvrError):
    """The database could not be reached, migrated or queried."""
