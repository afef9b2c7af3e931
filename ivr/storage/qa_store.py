"""QaStore: the QA console's reads and writes (search, a call's page, retention, erasure), off the event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ivr.storage.store import CallStore


class QaStore:
    """Async door to the QA tables; every call runs in the store's read threads (and commits when it writes)."""

    def __init__(self, store: CallStore) -> None:
        self._store = store

    async def _do(self, fn: Any, *args: Any, commit: bool = False, **kwargs: Any) -> Any:
        return await self._store._session(fn, *args, commit=commit, **kwargs)

    @property
    def dialect(self) -> str:
        """The database's dialect name (sqlite or postgresql)."""
        return str(self._store._engine.dialect.name)
