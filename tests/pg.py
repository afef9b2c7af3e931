"""Database fixtures: one real PostgreSQL per test session, and a SQLite/PostgreSQL parametrized URL.

Test modules re-export the fixtures they use: `import pg` then `db_url = pg.db_url`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.storage.errors import StorageError
from ivr.storage.pg_server import TemporaryPostgres
from tests.conftest import skip_unless_ci

_server: TemporaryPostgres | None = None
_users = 0
_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> Iterator[TemporaryPostgres]:
    """The session's PostgreSQL server, started on first use (skips when PostgreSQL is not installed)."""
    global _server, _users
    if _server is None:
        try:
            server = TemporaryPostgres()
        except StorageError as exc:
            skip_unless_ci(f"no PostgreSQL for this test: {exc}")
        server.start()
        _server = server
    _users += 1  # each test module that re-exports this fixture holds one reference
    yield _server
    _users -= 1
    if _users == 0:
        _server.cleanup()
        _server = None


def fresh_database(server: TemporaryPostgres) -> str:
    """URL of a new empty database on `server`."""
    return server.create_database(f"t{os.getpid()}_{next(_names)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL: SQLite (WAL file) or a new database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ivr.db'}"
    return fresh_database(request.getfixturevalue("pg_server"))
