"""Engines: SQLite in WAL mode by default, PostgreSQL (psycopg 3) through the same url setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from ivr.storage.errors import StorageError

# SQLite waits this long for a lock held by another connection before "database is locked";
# the writer thread is the only heavy writer, so a few seconds covers a long report query.
_SQLITE_BUSY_MS = 5000


def normalize_url(url: str, root: str | Path | None = None) -> str:
    """Pick the psycopg 3 driver for PostgreSQL and resolve relative SQLite paths against `root`."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(
            f"[storage] url {url!r} is not a database URL; use sqlite:///var/ivr.db or "
            "postgresql://user:password@host/dbname"
        ) from exc
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database or "")
        if not path.is_absolute() and root is not None:
            parsed = parsed.set(database=str(Path(root) / path))
    return parsed.render_as_string(hide_password=False)


def backend(url: str) -> str:
    """'sqlite' or 'postgresql'."""
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise StorageError(f"database backend {name!r} is not supported; use sqlite or postgresql")
    return name


def create_db_engine(url: str, *, connect_timeout: int = 3, echo: bool = False) -> Engine:
    """An engine for `url`; SQLite files get WAL, foreign keys and a busy timeout on every connection."""
    url = normalize_url(url)
    kind = backend(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    parsed: URL = make_url(url)
    if kind == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": _SQLITE_BUSY_MS / 1000}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": connect_timeout}
    try:
        engine = create_engine(url, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StorageError(
            f"no database driver for {parsed.drivername}: {exc}; install it with `pip install psycopg[binary]`"
        ) from exc
    if kind == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode never corrupts the database; a power cut may lose the last commits.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
    finally:
        cur.close()
