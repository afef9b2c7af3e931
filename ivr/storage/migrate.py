"""Alembic migrations, run programmatically at start-up with `migrate(url)`."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from ivr.storage.database import create_db_engine
from ivr.storage.errors import StorageError

log = logging.getLogger("ivr.storage")

_SCRIPTS = Path(__file__).with_name("migrations")
# Any fixed number: it serializes migrations of several control processes sharing one PostgreSQL.
_PG_MIGRATION_LOCK = 0x1F5_70E


def alembic_config() -> AlembicConfig:
    """Alembic configuration pointing at the bundled migration scripts."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


def head_revision() -> str:
    """The newest migration revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None when never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


def migrate(url: str, revision: str = "head", *, connect_timeout: int = 3) -> str | None:
    """Bring the database at `url` up to `revision`; returns the revision it is at afterwards."""
    engine = create_db_engine(url, connect_timeout=connect_timeout)
    cfg = alembic_config()
    try:
        with engine.begin() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            before = current_revision(conn)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            after = current_revision(conn)
    except DBAPIError as exc:
        raise StorageError(
            f"cannot migrate the database at {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.orig}; check that the server runs and [storage] url is right"
        ) from exc
    finally:
        engine.dispose()
    if before != after:
        log.info("storage: migrated %s from %s to %s", engine.url.render_as_string(), before, after)
    return after
