"""CallStore against real SQLite and PostgreSQL: lifecycle, transcripts, search, reports, catalog."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text, update

from ivr.core.config import AgentConfig, StorageConfig
from ivr.storage import CallStore, StorageError, create_db_engine, migrate
from ivr.storage.migrate import alembic_config, current_revision
from ivr.storage.models import Base, Order
from tests import pg

db_url = pg.db_url
pg_server = pg.pg_server

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()


@pytest.fixture
async def store(db_url: str, tmp_path: Path) -> AsyncIterator[CallStore]:
    s = CallStore(db_url, spool_dir=tmp_path / "spool", node="node-a")
    await s.start()
    yield s
    await s.close()


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


async def test_migrate_is_idempotent_and_matches_the_models(db_url: str) -> None:
    assert migrate(db_url) == "0010"
    assert migrate(db_url) == "0010"
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    # The full-text machinery (FTS5 tables, the tsvector column and its index) is not in the models.
    diff = [d for d in diff if "fts" not in repr(d) and "tsv" not in repr(d)]
    assert diff == []


async def test_call_lifecycle_shows_in_the_cdr(store: CallStore) -> None:
    store.call_started("c1", caller="+15551230001", callee="100", flow_name="acme", flow_version=3, at=T0)
    store.call_answered("c1", at=T0 + 1)
    store.call_updated("c1", queue="sales", agent_id="alice")
    store.call_ended("c1", "completed", hangup_by="caller", sip_code=200, at=T0 + 61)
    store.call_started("c2", caller="+15551230002", at=T0 + 10)
    store.call_ended("c2", "abandoned", hangup_by="caller", reason="hung up while ringing", at=T0 + 14)
    assert await store.flush(10)

    rows = await store.cdr()
    assert [r.call_id for r in rows] == ["c2", "c1"]
    c1 = rows[1]
    assert (c1.status, c1.queue, c1.agent_id, c1.flow_version) == ("completed", "sales", "alice", 3)
    assert c1.started_at == _ts(0) and c1.answered_at == _ts(1)
    assert c1.duration_seconds == pytest.approx(61)
    assert [r.call_id for r in await store.cdr(status="abandoned")] == ["c2"]
    assert [r.call_id for r in await store.cdr(since=_ts(5))] == ["c2"]


async def test_bad_status_and_use_before_start_are_clear_errors(tmp_path: Path) -> None:
    s = CallStore(f"sqlite:///{tmp_path / 'x.db'}", spool_dir=tmp_path)
    with pytest.raises(StorageError, match="before start"):
        s.call_started("c1")
    await s.start()
    with pytest.raises(StorageError, match="unknown call status"):
        s.call_ended("c1", "finished")
    with pytest.raises(StorageError, match="unknown call status"):
        s.call_updated("c1", status="finished")
    with pytest.raises(StorageError, match="cannot update"):
        s.call_updated("c1", caller="x")
    await s.close()


async def test_turns_intents_and_slots_come_back_in_call_detail(store: CallStore) -> None:
    store.call_started("c1", at=T0)
    store.add_turn("c1", "ivr", "Welcome to Acme. How can I help?", start=0.0, end=2.1, at=T0 + 2)
    turn = store.add_turn(
        "c1",
        "caller",
        "where is my order",
        confidence=0.91,
        start=2.8,
        end=4.0,
        intent="order_status",
        intent_score=0.88,
        at=T0 + 4,
    )
    store.add_intent("c1", "order_status", 0.88, slots={"order_number": "4711"}, turn_uid=turn, step="menu")
    assert await store.flush(10)

    detail = await store.call_detail("c1")
    assert detail is not None
    assert [(t.speaker, t.start_offset) for t in detail.turns] == [("ivr", 0.0), ("caller", 2.8)]
    assert detail.turns[1].confidence == pytest.approx(0.91)
    assert detail.intents[0].slots == {"order_number": "4711"}
    assert detail.intents[0].turn_uid == turn
    assert await store.call_detail("nope") is None


async def test_search_turns_stems_ranks_and_ignores_operator_syntax(store: CallStore) -> None:
    store.call_started("c1", at=T0)
    store.call_started("c2", at=T0)
    store.add_turn("c1", "caller", "I want a refund for my broken headphones")
    store.add_turn("c1", "ivr", "Refunds take five days")
    store.add_turn("c2", "caller", "my order never arrived")
    store.add_turn("c2", "caller", "I ordered shoes and they are refunded already")
    assert await store.flush(10)

    hits = await store.search_turns("refund")
    assert {h.text for h in hits} == {
        "I want a refund for my broken headphones",
        "Refunds take five days",
        "I ordered shoes and they are refunded already",
    }
    assert all(h.created_at.tzinfo is not None and h.rank > 0 for h in hits)
    assert [h.call_id for h in await store.search_turns("ordering")] == ["c2", "c2"]
    assert [h.text for h in await store.search_turns("refund shoes")] == [
        "I ordered shoes and they are refunded already"
    ]
    assert [h.call_id for h in await store.search_turns("headph*")] == ["c1"]
    assert [h.speaker for h in await store.search_turns("refund", speaker="ivr")] == ["ivr"]
    assert await store.search_turns('"NEAR( AND ^') == []
    assert await store.search_turns("   ") == []


async def test_queue_stats_waits_and_service_level(store: CallStore) -> None:
    waits = [5, 10, 15, 18, 25, 30, 40, 8, 12, 60]  # answered
    for i, w in enumerate(waits):
        store.add_queue_event("enqueued", call_id=f"a{i}", queue="sales", at=T0 + i)
        store.add_queue_event(
            "answered", call_id=f"a{i}", queue="sales", agent_id="alice", wait_seconds=w, at=T0 + i + w
        )
    for i, w in enumerate([3, 45]):
        store.add_queue_event("enqueued", call_id=f"b{i}", queue="sales", at=T0 + 100)
        store.add_queue_event("abandoned", call_id=f"b{i}", queue="sales", wait_seconds=w, at=T0 + 100 + w)
    store.add_queue_event("enqueued", call_id="o1", queue="support", at=T0)
    store.add_queue_event("overflow", call_id="o1", queue="support", wait_seconds=300, detail="voicemail")
    assert await store.flush(10)

    sales, support = await store.queue_stats()
    assert (sales.queue, sales.offered, sales.answered, sales.abandoned) == ("sales", 12, 10, 2)
    assert sales.avg_wait == pytest.approx(22.3)
    assert sales.p90_wait == 40
    assert sales.avg_abandon_wait == pytest.approx(24)
    assert sales.service_level == pytest.approx(6 / 12)
    assert (support.offered, support.overflowed, support.service_level) == (1, 1, None)
    only, *_ = await store.queue_stats(queue="sales", since=_ts(50), service_level_seconds=30)
    assert (only.offered, only.answered, only.abandoned) == (2, 1, 2)


async def test_agent_occupancy_from_state_changes(store: CallStore) -> None:
    def state(agent: str, s: str, at: float) -> None:
        store.add_queue_event("agent_state", agent_id=agent, detail=s, at=T0 + at)

    state("alice", "available", -600)  # logged in before the report window
    state("alice", "ringing", 100)
    state("alice", "busy", 110)
    store.add_queue_event("answered", agent_id="alice", queue="sales", wait_seconds=5, at=T0 + 110)
    state("alice", "wrap_up", 400)
    state("alice", "available", 430)
    state("alice", "not_ready", 1000)
    state("bob", "available", 200)
    state("bob", "offline", 800)
    assert await store.flush(10)

    alice, bob = await store.agent_occupancy(since=_ts(0), until=_ts(1200))
    assert alice.agent_id == "alice"
    assert alice.working == pytest.approx(330)
    assert alice.available == pytest.approx(100 + 570)
    assert alice.not_ready == pytest.approx(200)
    assert alice.occupancy == pytest.approx(330 / 1000)
    assert alice.calls_answered == 1
    assert (bob.available, bob.working, bob.occupancy, bob.logged_in) == (600, 0, 0, 600)


async def test_mark_interrupted_calls_closes_only_this_nodes_open_calls(db_url: str, tmp_path: Path) -> None:
    crashed = CallStore(db_url, spool_dir=tmp_path / "a", node="node-a")
    other = CallStore(db_url, spool_dir=tmp_path / "b", node="node-b")
    await crashed.start()
    await other.start()
    crashed.call_started("open-a", at=T0)
    crashed.call_started("done-a", at=T0)
    crashed.call_ended("done-a", "completed", at=T0 + 5)
    other.call_started("open-b", at=T0)
    assert await crashed.flush(10) and await other.flush(10)
    await crashed.close()

    restarted = CallStore(db_url, spool_dir=tmp_path / "a", node="node-a")
    await restarted.start()
    assert await restarted.mark_interrupted_calls() == ["open-a"]
    status = {r.call_id: (r.status, r.hangup_by) for r in await restarted.cdr()}
    assert status == {"open-a": ("interrupted", "system"), "done-a": ("completed", ""), "open-b": ("ringing", "")}
    await restarted.close()
    await other.close()


async def test_recordings_and_purge_are_recorded(store: CallStore) -> None:
    store.call_started("c1", at=T0)
    store.add_recording("c1", "/rec/c1.wav", duration=61.5, sample_rate=8000, sha256="ab" * 32, size_bytes=99)
    store.add_recording("c1", "/rec/c1.wav", duration=61.5)  # same file again (e.g. repair replay): ignored
    store.recording_purged("/rec/c1.wav")
    assert await store.flush(10)
    detail = await store.call_detail("c1")
    assert detail is not None
    assert [(r.path, r.status, r.sample_rate) for r in detail.recordings] == [("/rec/c1.wav", "purged", 8000)]


async def test_recording_pauses_round_trip(store: CallStore) -> None:
    store.call_started("c1", at=T0)
    store.add_recording("c1", "/rec/paid.wav", duration=30.0, pauses=[(3.2, 9.8), (12.0, 12.5)])
    store.add_recording("c1", "/rec/plain.wav", duration=30.0, pauses=())
    store.add_recording("c1", "/rec/unknown.wav", duration=30.0)
    assert await store.flush(10)
    detail = await store.call_detail("c1")
    assert detail is not None
    assert [(r.path, r.pauses) for r in detail.recordings] == [
        ("/rec/paid.wav", [(3.2, 9.8), (12.0, 12.5)]),
        ("/rec/plain.wav", []),  # recorded without a pause
        ("/rec/unknown.wav", None),  # nobody said
    ]


async def test_migration_0003_adds_pauses_to_an_existing_0002_database(db_url: str, tmp_path: Path) -> None:
    assert migrate(db_url, "0002") == "0002"
    engine = create_db_engine(db_url)
    try:
        with engine.begin() as conn:  # a call and its recording stored by the previous release
            conn.execute(
                text("INSERT INTO calls (id, caller, callee, node, worker, flow_name, status, started_at, hangup_by,"
                     " end_reason, sip_code, queue, agent_id) VALUES ('old', '', '', 'node-a', '', 'pay', 'completed',"
                     " :at, 'caller', '', 200, '', '')"),
                {"at": _ts(0).replace(tzinfo=None)},
            )  # fmt: skip
            conn.execute(
                text("INSERT INTO recordings (uid, call_id, path, duration_seconds, channels, sample_rate, sha256,"
                     " size_bytes, encrypted, status, created_at) VALUES ('u-old', 'old', '/rec/old.wav', 20.0, 2,"
                     " 16000, '', 0, false, 'complete', :at)"),
                {"at": _ts(20).replace(tzinfo=None)},
            )  # fmt: skip
    finally:
        engine.dispose()

    s = CallStore(db_url, spool_dir=tmp_path / "spool", node="node-a")
    await s.start()  # migrates to the head
    try:
        s.call_started("new", at=T0 + 60)
        s.add_recording("new", "/rec/new.wav", duration=15.0, pauses=[(1.5, 4.25)])
        assert await s.flush(10)
        old, new = await s.call_detail("old"), await s.call_detail("new")
        assert old is not None and new is not None
        (old_rec,) = old.recordings
        assert (old_rec.path, old_rec.duration_seconds, old_rec.pauses) == ("/rec/old.wav", 20.0, None)
        assert [r.pauses for r in new.recordings] == [[(1.5, 4.25)]]
    finally:
        await s.close()
    engine = create_db_engine(db_url)
    try:
        with engine.begin() as conn:  # and back down: the column goes, the rows stay
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
            assert current_revision(conn) == "0002"
            assert "pauses" not in {c["name"] for c in inspect(conn).get_columns("recordings")}
            assert conn.execute(text("SELECT count(*) FROM recordings")).scalar_one() == 2
    finally:
        engine.dispose()
    assert migrate(db_url) == "0010"


async def test_a_refused_write_is_set_aside_and_the_rest_commit(
    store: CallStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store.call_started("c1", at=T0)
    store.add_turn("no-such-call", "caller", "orphan turn")  # foreign key violation
    store.add_turn("c1", "caller", "kept turn")
    with caplog.at_level(logging.ERROR, logger="ivr.storage"):
        assert await store.flush(10)
    assert [h.text for h in await store.search_turns("turn")] == ["kept turn"]
    assert "refused a turn write" in caplog.text
    rejected = (tmp_path / "spool" / "writes-node-a.rejected").read_text()
    assert "orphan turn" in rejected


async def test_flow_versions_agents_and_users(store: CallStore) -> None:
    assert await store.publish_flow("acme", "steps: [a]", published_by="ops") == 1
    assert await store.publish_flow("acme", "steps: [a]") == 1  # unchanged source keeps its version
    assert await store.publish_flow("acme", "steps: [a, b]") == 2
    latest = await store.flow_version("acme")
    first = await store.flow_version("acme", 1)
    assert latest is not None and first is not None
    assert (latest.version, latest.source) == (2, "steps: [a, b]")
    assert (first.version, first.published_by) == (1, "ops")
    assert await store.flow_version("nope") is None

    await store.sync_agents([AgentConfig(id="alice", queues=("sales",), skills=("en", "de"))])
    await store.sync_agents([AgentConfig(id="bob", name="Bob", sip_uri="sip:bob@pbx")])
    assert await store.add_user("sup", role="supervisor") > 0
    with pytest.raises(StorageError, match="already exists"):
        await store.add_user("sup")
    user = await store.get_user("sup")
    assert user is not None and user.role == "supervisor"


async def test_from_config_resolves_relative_paths(tmp_path: Path) -> None:
    cfg = StorageConfig(url="sqlite:///var/ivr.db", spool_dir="var/spool")
    s = CallStore.from_config(cfg, root=tmp_path, node="n1")
    await s.start()
    s.call_started("c1")
    assert await s.flush(10)
    await s.close()
    assert (tmp_path / "var" / "ivr.db").exists()
    with pytest.raises(StorageError, match="not a database URL"):
        CallStore("not a url")


async def test_acd_decisions_stored_as_records_feed_the_reports(store: CallStore) -> None:
    from ivr.core.config import QueueConfig
    from ivr.queues import CallDistributor, Decision

    now = [0.0]
    acd = CallDistributor(
        [QueueConfig(name="sales", wrap_up=30, announce_interval=0, overflow="voicemail", max_wait=120)],
        [AgentConfig(id="ann", queues=("sales",))],
        clock=lambda: now[0],
    )

    def store_all(decisions: list[Decision]) -> None:
        for d in decisions:
            record = d.as_record()
            if record is not None:
                store.add_queue_event(**record, at=T0 + now[0])

    store_all(acd.login("ann"))
    store_all(acd.enqueue("c1", "sales"))
    now[0] = 6
    store_all(acd.agent_answered("c1", "ann"))
    store_all(acd.enqueue("c2", "sales"))
    now[0] = 20
    store_all(acd.abandon("c2"))
    store_all(acd.enqueue("c3", "sales"))
    now[0] = 146
    store_all(acd.call_ended("c1"))
    store_all(acd.tick())  # c3 waited past max_wait while ann was busy: voicemail
    now[0] = 176
    store_all(acd.tick())  # wrap-up over
    now[0] = 200
    store_all(acd.logout("ann"))
    assert await store.flush(10)

    (sales,) = await store.queue_stats()
    assert (sales.offered, sales.answered, sales.abandoned, sales.overflowed) == (3, 1, 1, 1)
    assert (sales.avg_wait, sales.avg_abandon_wait, sales.service_level) == (6, 14, 0.5)
    (ann,) = await store.agent_occupancy(since=_ts(0), until=_ts(300))
    assert (ann.working, ann.available, ann.logged_in) == (176, 24, 200)
    assert ann.occupancy == pytest.approx(176 / 200)


async def test_seeding_orders_adds_only_missing_ones_and_keeps_edits(store: CallStore, db_url: str) -> None:
    seed = {"1": {"status": "processing"}, "2": {"status": "shipped", "arrives_on": "2026-01-02"}}
    assert sorted(await store.seed_orders(seed)) == ["1", "2"]
    engine = create_db_engine(db_url)
    try:
        with engine.begin() as conn:
            edit = update(Order).where(Order.number == "1").values(status="shipped", record='{"status": "shipped"}')
            conn.execute(edit)
    finally:
        engine.dispose()
    assert await store.seed_orders({**seed, "3": {"status": "cancelled"}}) == ["3"]
    assert await store.get_order("1") == {"status": "shipped"}  # an operator's edit survives the next start-up
    assert await store.get_order("2") == {"status": "shipped", "arrives_on": "2026-01-02"}
    assert await store.get_order("4") is None
