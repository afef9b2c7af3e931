"""Console users and the audit log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.storage.errors import StorageError
from ivr.storage.models import AuditEntry, User


@dataclass(frozen=True)
class UserInfo:
    """A console user as shown to admins (never the password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class AuditLine:
    """One line of the audit log."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
    address: str


def list_users(session: Session) -> list[UserInfo]:
    """Every console user, by name."""
    return [_info(u) for u in session.scalars(select(User).order_by(User.username))]


def count_users(session: Session) -> int:
    """How many console users exist (0 on a fresh install: `ivr serve` then explains how to add an admin)."""
    return int(session.scalar(select(func.count(User.id))) or 0)


def update_user(session: Session, username: str, **fields: Any) -> UserInfo:
    """Change a user's role, display_name, disabled or password_hash."""
    u = session.scalar(select(User).where(User.username == username))
    if u is None:
        raise StorageError(f"no user {username!r}")
    for key, value in fields.items():
        if key not in ("role", "display_name", "disabled", "password_hash"):
            raise StorageError(f"cannot change {key!r} of a user")
        setattr(u, key, value)
    session.flush()
    return _info(u)


def touch_login(session: Session, username: str) -> None:
    """Remember when a user last logged in."""
    u = session.scalar(select(User).where(User.username == username))
    if u is not None:
        u.last_login_at = datetime.now(UTC)


def add_audit(
    session: Session, *, actor: str, role: str, action: str, target: str = "", detail: dict[str, Any] | None = None,
    address: str = "",
) -> None:  # fmt: skip
    """Append one audit line."""
    session.add(
        AuditEntry(
            at=datetime.now(UTC),
            actor=actor,
            role=role,
            action=action,
            target=target[:255],
            detail=json.dumps(detail or {}, sort_keys=True),
            address=address[:64],
        )
    )


def list_audit(
    session: Session, *, limit: int = 100, offset: int = 0, action: str = "", actor: str = ""
) -> tuple[list[AuditLine], int]:
    """Audit lines, newest first, with the total count of the filter."""
    q = select(AuditEntry)
    if action:
        q = q.where(AuditEntry.action == action)
    if actor:
        q = q.where(AuditEntry.actor == actor)
    total = int(session.scalar(select(func.count()).select_from(q.subquery())) or 0)
    rows = session.scalars(q.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))
    lines = [
        AuditLine(r.id, r.at, r.actor, r.role, r.action, r.target, json.loads(r.detail or "{}"), r.address)
        for r in rows
    ]
    return lines, total


def _info(u: User) -> UserInfo:
    return UserInfo(u.id, u.username, u.display_name, u.role, u.disabled, u.created_at, u.last_login_at)
