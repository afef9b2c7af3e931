"""Writes survive a PostgreSQL restart mid-stream, and a crash while the database is away."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ivr.storage import CallStore, create_db_engine, migrate
from ivr.storage.models import Turn
from ivr.storage.ops import WriteOp
from ivr.storage.pg_server import TemporaryPostgres
from ivr.storage.spool import Spool
from ivr.storage.writer import BatchWriter
from tests import pg

pg_server = pg.pg_server

REPO = Path(__file__).resolve().parent.parent


def _count_turns(url: str) -> int:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count(Turn.id))) or 0)
    finally:
        engine.dispose()


async def _wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await asyncio.sleep(0.02)


async def test_postgres_restart_mid_stream_loses_no_write(
    pg_server: TemporaryPostgres, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = pg.fresh_database(pg_server)
    store = CallStore(url, spool_dir=tmp_path, node="n1")
    await store.start()
    calls, turns_per_call = 10, 60
    for c in range(calls):
        store.call_started(f"call-{c}")

    async def caller(c: int) -> None:
        for i in range(turns_per_call):
            store.add_turn(f"call-{c}", "caller", f"turn {i} of call {c}", start=i * 2.0, end=i * 2.0 + 1.5)
            await asyncio.sleep(0.03)

    caplog.set_level(logging.INFO, logger="ivr.storage")
    stream = asyncio.gather(*(caller(c) for c in range(calls)))
    await asyncio.sleep(0.4)
    await asyncio.to_thread(pg_server.stop)
    try:
        await _wait_for(lambda: not store.available)
        spool = tmp_path / "writes-n1.jsonl"
        await _wait_for(spool.exists)
        assert await store.flush(0.3) is False  # held, not committed; giving up must not hurt the writer
    finally:
        await asyncio.to_thread(pg_server.start)
    await stream
    assert await store.flush(30)
    assert store.available and store.backlog == 0
    assert not spool.exists()
    assert await asyncio.to_thread(_count_turns, url) == calls * turns_per_call
    detail = await store.call_detail("call-3")
    assert detail is not None and [t.start_offset for t in detail.turns] == [i * 2.0 for i in range(turns_per_call)]
    assert "database unavailable" in caplog.text
    assert "database is back" in caplog.text
    await store.close()


_CRASHING_WRITER = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from ivr.storage import CallStore

    async def main(url, spool_dir, n):
        store = CallStore(url, spool_dir=spool_dir, node="crashy")
        await store.start(run_migrations=False)
        for i in range(n):
            store.add_turn("c1", "caller", f"said while the database was down {i}")
        deadline = time.monotonic() + 20
        while store.available or store.backlog < n:
            if time.monotonic() > deadline:
                sys.exit("writer never noticed the outage")
            await asyncio.sleep(0.02)
        os._exit(17)  # die without closing anything, like a crash

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


async def test_writes_spooled_before_a_crash_are_replayed_at_the_next_start(
    pg_server: TemporaryPostgres, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = pg.fresh_database(pg_server)
    migrate(url)
    first = CallStore(url, spool_dir=tmp_path, node="crashy")
    await first.start()
    first.call_started("c1")
    assert await first.flush(10)
    await first.close()

    await asyncio.to_thread(pg_server.stop)
    try:
        proc = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", _CRASHING_WRITER, url, str(tmp_path), "250"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        await asyncio.to_thread(pg_server.start)
    assert proc.returncode == 17, proc.stderr
    assert len(Spool(tmp_path / "writes-crashy.jsonl")) == 250

    caplog.set_level(logging.INFO, logger="ivr.storage")
    second = CallStore(url, spool_dir=tmp_path, node="crashy")
    await second.start()
    assert await second.flush(30)
    assert await asyncio.to_thread(_count_turns, url) == 250
    assert "found 250 writes spooled by a previous run" in caplog.text
    assert not (tmp_path / "writes-crashy.jsonl").exists()
    await second.close()


async def test_a_long_outage_spills_to_the_spool_and_replays_from_it(
    pg_server: TemporaryPostgres, tmp_path: Path
) -> None:
    url = pg.fresh_database(pg_server)
    migrate(url)
    engine = create_db_engine(url)
    writer = BatchWriter(engine, Spool(tmp_path / "w.jsonl"), batch_size=50, max_in_memory=20, retry_max=0.3)
    writer.start()
    writer.submit(WriteOp("call_started", {"call_id": "c1", "at": time.time()}))
    await asyncio.wrap_future(writer.barrier())
    await asyncio.to_thread(pg_server.stop)
    try:
        for i in range(200):
            writer.submit(
                WriteOp(
                    "turn", {"uid": f"u{i}", "call_id": "c1", "speaker": "caller", "text": f"t{i}", "at": time.time()}
                )
            )
        await _wait_for(lambda: not writer.available)
        await _wait_for(lambda: len(Spool(tmp_path / "w.jsonl")) == 200)
    finally:
        await asyncio.to_thread(pg_server.start)
    await asyncio.wait_for(asyncio.wrap_future(writer.barrier()), 30)
    assert writer.stop(10)
    engine.dispose()
    assert await asyncio.to_thread(_count_turns, url) == 200


def test_spool_skips_a_torn_last_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path / "s.jsonl")
    spool.append([WriteOp("call_answered", {"call_id": "c1", "at": 1.0})] * 2)
    with open(spool.path, "a") as f:
        f.write('{"kind":"turn","da')
    with caplog.at_level(logging.WARNING, logger="ivr.storage"):
        assert [op.data["call_id"] for op in spool] == ["c1", "c1"]
    assert "torn line 3" in caplog.text
    spool.clear()
    assert not spool.exists() and list(spool) == []
