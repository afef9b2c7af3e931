"""Retention per kind of call data (audio, transcripts, slots) and a caller's right to erasure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ivr.storage.call_search import call_ids_of_number
from ivr.storage.errors import StorageError
from ivr.storage.models import Call, Intent, QueueEvent, Recording, RetentionSetting, Slot, Turn

KINDS = ("audio", "transcripts", "slots")


@dataclass(frozen=True)
class Retention:
    """How long one kind of data is kept: `days` None is forever; `stored` False means the default applies."""

    kind: str
    days: int | None
    stored: bool
    updated_by: str
    updated_at: datetime | None


@dataclass(frozen=True)
class Erasure:
    """What erasing a caller's data removed; `recordings` are the files the caller of this must delete."""

    calls: int
    turns: int
    recordings: list[str]
    first_call: datetime | None
    last_call: datetime | None


def retention(session: Session, defaults: dict[str, int | None]) -> list[Retention]:
    """The setting of every kind: the stored one, else `defaults` (audio: [recordings] retention_days)."""
    stored = {r.kind: r for r in session.scalars(select(RetentionSetting))}
    out = []
    for kind in KINDS:
        r = stored.get(kind)
        if r is None:
            out.append(Retention(kind, defaults.get(kind), False, "", None))
        else:
            out.append(Retention(kind, r.days, True, r.updated_by, r.updated_at))
    return out


def set_retention(session: Session, kind: str, days: int | None, *, by: str) -> None:
    """Store how many days `kind` is kept (None: forever)."""
    if kind not in KINDS:
        raise StorageError(f"unknown kind of data {kind!r}; use one of {', '.join(KINDS)}")
    if days is not None and days < 1:
        raise StorageError("keep data at least 1 day, or choose 'forever'")
    row = session.get(RetentionSetting, kind)
    now = datetime.now(UTC)
    if row is None:
        session.add(RetentionSetting(kind=kind, days=days, updated_by=by, updated_at=now))
    else:
        row.days, row.updated_by, row.updated_at = days, by, now


def purge_transcripts(session: Session, before: datetime) -> int:
    """Delete the turns of calls that started before `before`; returns how many."""
    old = select(Call.id).where(Call.started_at < before)
    return int(session.execute(delete(Turn).where(Turn.call_id.in_(old))).rowcount or 0)  # type: ignore[attr-defined]


def purge_slots(session: Session, before: datetime) -> int:
    """Delete the slot values of calls that started before `before` (the intents stay for reports)."""
    old = select(Intent.uid).join(Call, Call.id == Intent.call_id).where(Call.started_at < before)
    return int(session.execute(delete(Slot).where(Slot.intent_uid.in_(old))).rowcount or 0)  # type: ignore[attr-defined]


def expired_recordings(session: Session, before: datetime) -> list[tuple[str, str]]:
    """(uid, path) of recordings not yet purged whose call started before `before`."""
    q = (
        select(Recording.uid, Recording.path)
        .join(Call, Call.id == Recording.call_id)
        .where(Call.started_at < before, Recording.purged_at.is_(None))
    )
    return [(r[0], r[1]) for r in session.execute(q)]


def mark_purged(session: Session, uids: list[str]) -> None:
    """Note that these recordings' files are gone."""
    if uids:
        session.execute(update(Recording).where(Recording.uid.in_(uids)).values(purged_at=datetime.now(UTC)))


def find_caller(session: Session, number: str) -> list[tuple[str, str, datetime]]:
    """A caller's calls by number: (call id, caller address, started at)."""
    return call_ids_of_number(session, number)


def erase_caller(session: Session, number: str) -> Erasure:
    """Delete every call of `number` with its turns, intents, slots, queue events and recording rows."""
    calls = call_ids_of_number(session, number)
    ids = [c[0] for c in calls]
    if not ids:
        return Erasure(0, 0, [], None, None)
    paths = [p for p in session.scalars(select(Recording.path).where(Recording.call_id.in_(ids)))]
    turns = len(session.scalars(select(Turn.id).where(Turn.call_id.in_(ids))).all())
    session.execute(delete(Recording).where(Recording.call_id.in_(ids)))
    session.execute(delete(QueueEvent).where(QueueEvent.call_id.in_(ids)))
    # Turns, intents, slots and QA reviews go with the call (ON DELETE CASCADE; SQLite has foreign_keys on).
    session.execute(delete(Slot).where(Slot.intent_uid.in_(select(Intent.uid).where(Intent.call_id.in_(ids)))))
    session.execute(delete(Turn).where(Turn.call_id.in_(ids)))
    session.execute(delete(Intent).where(Intent.call_id.in_(ids)))
    session.execute(delete(Call).where(Call.id.in_(ids)))
    return Erasure(len(ids), turns, paths, calls[0][2], calls[-1][2])
