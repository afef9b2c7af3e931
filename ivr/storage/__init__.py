"""Storage: SQLAlchemy models, migrations, the write-behind CallStore, search and reports.

The only part that imports sqlalchemy. SQLite (WAL) by default, PostgreSQL via the same url.
"""

from __future__ import annotations

from ivr.storage.accounts import AuditLine, UserInfo
from ivr.storage.calls import CallDetail, IntentRow, RecordingRow, TurnRow
from ivr.storage.catalog import FlowSource, UserRow
from ivr.storage.console import ConsoleStore
from ivr.storage.database import create_db_engine, normalize_url
from ivr.storage.errors import StorageError
from ivr.storage.flowstore import Draft, DraftConflict, LiveConflict, LiveState, VersionInfo
from ivr.storage.migrate import migrate
from ivr.storage.reports import AgentOccupancy, CdrRow, QueueStats
from ivr.storage.search import TurnHit
from ivr.storage.store import CALL_STATUSES, CallStore

__all__ = [
    "CALL_STATUSES",
    "AgentOccupancy",
    "AuditLine",
    "CallDetail",
    "CallStore",
    "CdrRow",
    "ConsoleStore",
    "Draft",
    "DraftConflict",
    "FlowSource",
    "IntentRow",
    "LiveConflict",
    "LiveState",
    "QueueStats",
    "RecordingRow",
    "StorageError",
    "TurnHit",
    "TurnRow",
    "UserInfo",
    "UserRow",
    "VersionInfo",
    "create_db_engine",
    "migrate",
    "normalize_url",
]
