"""The agent desk's tables on SQLite and PostgreSQL: the roster seeded from config then edited, and dispositions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.core.config import AgentConfig, QueueConfig
from ivr.storage import CallStore, StorageError
from tests import pg

db_url = pg.db_url
pg_server = pg.pg_server


@pytest.fixture
async def store(db_url: str, tmp_path: Path) -> AsyncIterator[CallStore]:
    s = CallStore(db_url, spool_dir=tmp_path / "spool", node="test")
    await s.start()
    try:
        yield s
    finally:
        await s.close()


async def test_config_seeds_the_roster_once_and_console_edits_stay(store: CallStore) -> None:
    support = QueueConfig(name="support", wrap_up=15, ring_timeout=12, overflow="queue:sales")
    sales = QueueConfig(name="sales", strategy="round_robin", overflow="")
    ann = AgentConfig(id="ann", name="Ann", sip_uri="sip:ann@pbx", queues=("support", "sales"), skills=("en", "de"))
    assert await store.desk.seed([ann], [support, sales]) == ["queue support", "queue sales", "agent ann"]
    queues, agents = await store.desk.roster()
    assert queues == [sales, support]  # every setting comes back as configured
    assert [(a.config, a.user) for a in agents] == [(ann, "")]

    await store.add_user("ann.b", role="agent")
    await store.desk.save_agent(AgentConfig(id="ann", name="Ann B", sip_uri="sip:ann@pbx2", queues=("sales",)),
                                user="ann.b")  # fmt: skip
    await store.desk.save_queue(QueueConfig(name="support", wrap_up=30, overflow=""), by="sup")
    assert await store.desk.remove_queue("sales", by="sup") is True
    assert await store.desk.seed([ann], [support, sales]) == []  # the next start: config does not undo the console
    queues, agents = await store.desk.roster()
    assert [(q.name, q.wrap_up) for q in queues] == [("support", 30.0)]
    assert [(a.config.name, a.config.sip_uri, a.config.queues, a.user) for a in agents] == [
        ("Ann B", "sip:ann@pbx2", ("sales",), "ann.b")]  # fmt: skip
    assert await store.qa.agent_ids_of("ann.b") == ("ann",)  # the linked user works as the agent

    assert await store.desk.remove_agent("ann") is True
    assert await store.desk.remove_agent("ann") is False
    assert (await store.desk.roster())[1] == []
    with pytest.raises(StorageError, match="no console user"):
        await store.desk.save_agent(AgentConfig(id="bob", sip_uri="sip:bob@pbx"), user="ghost")


async def test_a_disposition_is_stored_with_its_call_and_replaced_when_saved_again(store: CallStore) -> None:
    with pytest.raises(StorageError, match="not stored yet"):
        await store.desk.save_disposition("c1", agent_id="ann", disposition="Resolved", notes="", by="ann")
    store.call_started("c1", caller="+15550001")
    store.call_updated("c1", agent_id="ann", queue="support")
    assert await store.flush(10)
    assert await store.desk.call_agent("c1") == "ann" and await store.desk.call_agent("nope") is None
    await store.desk.save_disposition("c1", agent_id="ann", disposition="Resolved", notes="first", by="ann")
    saved = await store.desk.save_disposition("c1", agent_id="ann", disposition="Escalated", notes="to billing",
                                              by="ann")  # fmt: skip
    found = await store.desk.disposition("c1")
    assert found is not None and (found.disposition, found.notes, found.by) == ("Escalated", "to billing", "ann")
    assert found.updated_at == saved.updated_at
    assert await store.desk.disposition("c2") is None
