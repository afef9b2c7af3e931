"""Write operations of the call path: JSON-able records applied idempotently in batches.

Every insert carries a client-made `uid` and is applied with ON CONFLICT DO NOTHING, and
every update is keyed, so replaying a batch whose commit outcome is unknown is harmless.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, Table, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from ivr.storage.models import Call, Intent, QueueEvent, Recording, Slot, Turn

CALL_UPDATE_FIELDS = ("flow_name", "flow_version", "queue", "agent_id", "status")


@dataclass(frozen=True)
class WriteOp:
    """One queued write; `data` holds JSON values only (times are epoch seconds)."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """One spool line."""
        return json.dumps({"kind": self.kind, "data": self.data}, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> WriteOp:
        """Inverse of to_json."""
        raw = json.loads(line)
        if raw.get("kind") not in _APPLY:
            raise ValueError(f"unknown write kind {raw.get('kind')!r}")
        return cls(raw["kind"], dict(raw["data"]))


def when(epoch: float | None) -> datetime | None:
    """Epoch seconds to an aware UTC datetime."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def apply_ops(conn: Connection, ops: Sequence[WriteOp]) -> None:
    """Apply `ops` in order inside the caller's transaction, batching runs of the same kind."""
    for kind, run in groupby(ops, key=lambda op: op.kind):
        _APPLY[kind](conn, [op.data for op in run])


def _insert_ignore(conn: Connection, table: Table) -> Insert:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def _call_started(conn: Connection, rows: list[dict[str, Any]]) -> None:
    values = [
        {
            "id": r["call_id"],
            "caller": r.get("caller", ""),
            "callee": r.get("callee", ""),
            "node": r.get("node", ""),
            "worker": r.get("worker", ""),
            "flow_name": r.get("flow_name", ""),
            "flow_version": r.get("flow_version"),
            "status": "ringing",
            "started_at": when(r["at"]),
            "hangup_by": "",
            "end_reason": "",
            "sip_code": 0,
            "queue": "",
            "agent_id": "",
        }
        for r in rows
    ]
    conn.execute(_insert_ignore(conn, Call.__table__), values)  # type: ignore[arg-type]


def _call_answered(conn: Connection, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        conn.execute(update(Call).where(Call.id == r["call_id"]).values(answered_at=when(r["at"]), status="active"))


def _call_updated(conn: Connection, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        values = {k: r[k] for k in CALL_UPDATE_FIELDS if k in r}
        if values:
            conn.execute(update(Call).where(Call.id == r["call_id"]).values(**values))


def _call_ended(conn: Connection, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        conn.execute(
            update(Call)
            .where(Call.id == r["call_id"])
            .values(
                ended_at=when(r["at"]),
                status=r["status"],
                hangup_by=r.get("hangup_by", ""),
                end_reason=r.get("reason", "")[:255],
                sip_code=r.get("sip_code", 0),
            )
        )


def _turns(conn: Connection, rows: list[dict[str, Any]]) -> None:
    values = [
        {
            "uid": r["uid"],
            "call_id": r["call_id"],
            "speaker": r["speaker"],
            "text": r["text"],
            "confidence": r.get("confidence"),
            "start_offset": r.get("start"),
            "end_offset": r.get("end"),
            "intent": r.get("intent", ""),
            "intent_score": r.get("intent_score"),
            "created_at": when(r["at"]),
            "reply_latency": r.get("reply_latency"),
        }
        for r in rows
    ]
    conn.execute(_insert_ignore(conn, Turn.__table__), values)  # type: ignore[arg-type]


def _intents(conn: Connection, rows: list[dict[str, Any]]) -> None:
    values = [
        {
            "uid": r["uid"],
            "call_id": r["call_id"],
            "turn_uid": r.get("turn_uid"),
            "step": r.get("step", ""),
            "name": r["name"],
            "score": r.get("score", 0.0),
            "source": r.get("source", "speech"),
            "created_at": when(r["at"]),
        }
        for r in rows
    ]
    conn.execute(_insert_ignore(conn, Intent.__table__), values)  # type: ignore[arg-type]
    slots = [
        {"intent_uid": r["uid"], "name": name, "value": str(value)}
        for r in rows
        for name, value in (r.get("slots") or {}).items()
    ]
    if slots:
        conn.execute(_insert_ignore(conn, Slot.__table__), slots)  # type: ignore[arg-type]


def _queue_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    values = [
        {
            "uid": r["uid"],
            "call_id": r.get("call_id", ""),
            "queue": r.get("queue", ""),
            "kind": r["kind"],
            "agent_id": r.get("agent_id", ""),
            "at": when(r["at"]),
            "wait_seconds": r.get("wait_seconds"),
            "detail": r.get("detail", ""),
        }
        for r in rows
    ]
    conn.execute(_insert_ignore(conn, QueueEvent.__table__), values)  # type: ignore[arg-type]


def _recordings(conn: Connection, rows: list[dict[str, Any]]) -> None:
    values = [
        {
            "uid": r["uid"],
            "call_id": r["call_id"],
            "path": r["path"],
            "duration_seconds": r.get("duration", 0.0),
            "channels": r.get("channels", 2),
            "sample_rate": r.get("sample_rate", 16000),
            "sha256": r.get("sha256", ""),
            "size_bytes": r.get("size_bytes", 0),
            "encrypted": bool(r.get("encrypted", False)),
            "status": r.get("status", "complete"),
            "created_at": when(r["at"]),
            "purged_at": None,
            "pauses": None if r.get("pauses") is None else json.dumps(r["pauses"]),
        }
        for r in rows
    ]
    conn.execute(_insert_ignore(conn, Recording.__table__), values)  # type: ignore[arg-type]


def _recordings_purged(conn: Connection, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        conn.execute(
            update(Recording).where(Recording.path == r["path"]).values(purged_at=when(r["at"]), status="purged")
        )


_APPLY: dict[str, Callable[[Connection, list[dict[str, Any]]], None]] = {
    "call_started": _call_started,
    "call_answered": _call_answered,
    "call_updated": _call_updated,
    "call_ended": _call_ended,
    "turn": _turns,
    "intent": _intents,
    "queue_event": _queue_events,
    "recording": _recordings,
    "recording_purged": _recordings_purged,
}


def chunks(ops: Sequence[WriteOp], size: int) -> Iterator[Sequence[WriteOp]]:
    """Split `ops` into slices of at most `size`."""
    for i in range(0, len(ops), size):
        yield ops[i : i + size]
