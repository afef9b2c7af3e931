"""ConsoleStore: the web console's reads and writes (users, audit, flow lifecycle), off the event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ivr.storage import accounts, catalog, flow_stats, flowstore

if TYPE_CHECKING:
    from ivr.storage.store import CallStore


class ConsoleStore:
    """Async door to the console's tables; every call runs in the store's read threads and commits."""

    def __init__(self, store: CallStore) -> None:
        self._store = store

    async def _do(self, fn: Any, *args: Any, commit: bool = False, **kwargs: Any) -> Any:
        return await self._store._session(fn, *args, commit=commit, **kwargs)

    # --- users and audit ---------------------------------------------------------------------
    async def add_user(self, username: str, *, role: str, display_name: str = "", password_hash: str = "") -> int:
        """Create a user; StorageError if the name is taken."""
        return int(await self._do(catalog.add_user, username, role=role, display_name=display_name,
                                  password_hash=password_hash, commit=True))  # fmt: skip

    async def get_user(self, username: str) -> catalog.UserRow | None:
        """A user with its password hash (for login only)."""
        result: catalog.UserRow | None = await self._do(catalog.get_user, username)
        return result

    async def list_users(self) -> list[accounts.UserInfo]:
        """Every user."""
        result: list[accounts.UserInfo] = await self._do(accounts.list_users)
        return result

    async def count_users(self) -> int:
        """How many users exist."""
        return int(await self._do(accounts.count_users))

    async def update_user(self, username: str, **fields: Any) -> accounts.UserInfo:
        """Change role, display name, disabled or password hash."""
        result: accounts.UserInfo = await self._do(accounts.update_user, username, commit=True, **fields)
        return result

    async def touch_login(self, username: str) -> None:
        """Record a successful login time."""
        await self._do(accounts.touch_login, username, commit=True)

    async def audit(self, **fields: Any) -> None:
        """Append an audit line (actor, role, action, target, detail, address)."""
        await self._do(accounts.add_audit, commit=True, **fields)

    async def list_audit(self, **filters: Any) -> tuple[list[accounts.AuditLine], int]:
        """Audit lines newest first, and the total."""
        result: tuple[list[accounts.AuditLine], int] = await self._do(accounts.list_audit, **filters)
        return result

    # --- flows -------------------------------------------------------------------------------
    async def live_states(self, kind: str | None = None) -> list[flowstore.LiveState]:
        """Live pointers of every flow."""
        result: list[flowstore.LiveState] = await self._do(flowstore.live_states, kind)
        return result

    async def live_state(self, name: str) -> flowstore.LiveState | None:
        """Live pointers of one flow."""
        result: flowstore.LiveState | None = await self._do(flowstore.live_state, name)
        return result

    async def live_revisions(self) -> dict[str, int]:
        """Live revision per flow (polled by running servers)."""
        result: dict[str, int] = await self._do(flowstore.live_revisions)
        return result

    async def versions(self, name: str) -> list[flowstore.VersionInfo]:
        """Versions of a flow, newest first."""
        result: list[flowstore.VersionInfo] = await self._do(flowstore.versions, name)
        return result

    async def version_source(self, name: str, version: int) -> str | None:
        """Source text of a version."""
        result: str | None = await self._do(flowstore.version_source, name, version)
        return result

    async def last_from_origin(self, name: str, origin: str) -> flowstore.VersionInfo | None:
        """Newest version stored from `origin`."""
        result: flowstore.VersionInfo | None = await self._do(flowstore.last_from_origin, name, origin)
        return result

    async def store_version(self, name: str, source: str, **kwargs: Any) -> int:
        """Store (and by default make live) the next version; LiveConflict if live moved."""
        return int(await self._do(flowstore.store_version, name, source, commit=True, **kwargs))

    async def set_live(self, name: str, version: int, *, by: str) -> flowstore.LiveState:
        """Make a version live (rollback)."""
        result: flowstore.LiveState = await self._do(flowstore.set_live, name, version, by=by, commit=True)
        return result

    async def set_candidate(self, name: str, version: int | None, share: int, *, by: str) -> flowstore.LiveState:
        """Start, change or end an A/B test."""
        result: flowstore.LiveState = await self._do(
            flowstore.set_candidate, name, version, share, by=by, commit=True
        )
        return result

    async def get_draft(self, name: str) -> flowstore.Draft | None:
        """The flow's shared draft."""
        result: flowstore.Draft | None = await self._do(flowstore.get_draft, name)
        return result

    async def save_draft(self, name: str, source: str, **kwargs: Any) -> flowstore.Draft:
        """Save the draft under its optimistic lock; DraftConflict if someone saved first."""
        result: flowstore.Draft = await self._do(flowstore.save_draft, name, source, commit=True, **kwargs)
        return result

    async def discard_draft(self, name: str) -> bool:
        """Delete the draft."""
        return bool(await self._do(flowstore.discard_draft, name, commit=True))

    # --- flow statistics and replays (ivr.storage.flow_stats) ----------------------------------
    async def recent_calls(self, name: str, limit: int, version: int | None = None) -> list[flow_stats.RecordedCall]:
        """The last ended calls of a flow with the caller's inputs in order (to replay through a draft)."""
        result: list[flow_stats.RecordedCall] = await self._do(flow_stats.recent_calls, name, limit, version)
        return result

    async def version_stats(self, name: str, since: Any) -> list[flow_stats.VersionStats]:
        """Containment, transfers, no-match turns and call length per version of a flow since a time."""
        result: list[flow_stats.VersionStats] = await self._do(flow_stats.version_stats, name, since)
        return result

    async def set_live_checked(
        self, name: str, version: int, *, by: str, expect_live: int | None
    ) -> flowstore.LiveState:
        """Roll back (or forward) to `version` if the live version is still `expect_live`; else LiveConflict."""
        result: flowstore.LiveState = await self._do(flow_stats.set_live_checked, name, version, by=by,
                                                     expect_live=expect_live, commit=True)  # fmt: skip
        return result
