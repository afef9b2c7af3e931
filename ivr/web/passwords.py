"""Password hashing for console users (argon2id via argon2-cffi)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ivr.core.errors import IvrError

ROLES = ("admin", "supervisor", "qa", "agent")
MIN_PASSWORD = 10
_hasher = PasswordHasher()  # argon2id with the library's current recommended cost
# Verifying against this when the user does not exist keeps a wrong name as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class PasswordError(IvrError):
    """A password or role a console user cannot have."""


def check_new_password(password: str) -> None:
    """Refuse passwords too short to resist guessing."""
    if len(password) < MIN_PASSWORD:
        raise PasswordError(f"a password needs at least {MIN_PASSWORD} characters (got {len(password)})")


def check_role(role: str) -> None:
    """Refuse a role the console does not know."""
    if role not in ROLES:
        raise PasswordError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")


def hash_password(password: str) -> str:
    """An argon2id hash of a new password (checked for length first)."""
    check_new_password(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches `stored_hash`; a missing user (None) costs the same time and fails."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
