"""FlowRegistry on a real SQLite store and real espeak-ng: file versions, publishes, rollbacks, A/B, bad versions."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ivr.core.config import TtsConfig
from ivr.session.flow_registry import FlowRegistry
from ivr.storage import CallStore
from tts.cached import CachedSynthesizer

FLOW = """\
flow: little_shop
start: greeting
defaults:
  on_failure: bye
steps:
  greeting:
    kind: say
    text: {greeting}
    next: menu
  menu:
    kind: menu
    prompt: Press 1 to hear this again.
    options:
      - {{keys: "1", next: greeting}}
  bye:
    kind: hangup
    text: Goodbye.
"""


def flow_text(greeting: str) -> str:
    return FLOW.format(greeting=greeting)


def greeting_of(registry: FlowRegistry) -> str:
    _, actions = registry.pick().runner.start("c1")
    return " ".join(getattr(a, "text", "") for a in actions)


@pytest.fixture
async def voice(tmp_path: Path) -> AsyncIterator[CachedSynthesizer]:
    async with await CachedSynthesizer.open(TtsConfig(), tmp_path / "prompts") as v:
        yield v


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CallStore]:
    s = CallStore(f"sqlite:///{tmp_path / 'ivr.db'}", spool_dir=tmp_path / "spool", node="n1")
    await s.start()
    yield s
    await s.close()


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "little_shop.yaml"
    path.write_text(flow_text("Welcome to the little shop."))
    return path


async def started(
    store: CallStore | None, voice: CachedSynthesizer, path: Path, rng: Callable[[], float] = random.random
) -> FlowRegistry:
    registry = FlowRegistry(store, voice, path, poll_seconds=0.1, rng=rng)
    await registry.start()
    return registry


async def test_without_a_database_the_file_runs_prewarmed(voice: CachedSynthesizer, flow_file: Path) -> None:
    registry = await started(None, voice, flow_file)
    pinned = registry.pick()
    assert (pinned.name, pinned.version) == ("little_shop", None)
    assert "Welcome to the little shop." in greeting_of(registry)
    assert await voice.cache.lookup("Welcome to the little shop.", 16000) is not None
    assert await voice.cache.lookup("Press 1 to hear this again.", 16000) is not None
    assert await registry.refresh() is None
    await registry.stop()


async def test_file_version_stored_once_and_a_console_publish_survives_a_restart(
    store: CallStore, voice: CachedSynthesizer, flow_file: Path
) -> None:
    first = await started(store, voice, flow_file)
    assert first.pick().version == 1
    await first.stop()
    again = await started(store, voice, flow_file)  # unchanged file: no new version
    assert again.pick().version == 1
    await again.stop()
    [v1] = await store.console.versions("little_shop")
    assert (v1.origin, v1.published_by) == (f"file:{flow_file.resolve()}", "ivr serve")

    await store.console.store_version("little_shop", flow_text("Hello from the console."), by="sue", origin="console")
    restarted = await started(store, voice, flow_file)  # the file did not change: the console's version stays
    assert restarted.pick().version == 2
    assert "Hello from the console." in greeting_of(restarted)
    await restarted.stop()

    flow_file.write_text(flow_text("The file was edited."))
    edited = await started(store, voice, flow_file)
    assert edited.pick().version == 3
    assert "The file was edited." in greeting_of(edited)
    await edited.stop()


async def test_publish_reaches_new_calls_and_calls_in_progress_keep_theirs(
    store: CallStore, voice: CachedSynthesizer, flow_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ivr.flows")
    registry = await started(store, voice, flow_file)
    in_progress = registry.pick()
    await store.console.store_version("little_shop", flow_text("Spring sale today."), by="sue", origin="console")
    published = time.monotonic()
    while registry.pick().version != 2:  # picked up by the poll, nobody calls refresh()
        assert time.monotonic() - published < 5, "the poll never loaded version 2"
        await asyncio.sleep(0.02)
    assert "Spring sale today." in greeting_of(registry)
    assert await voice.cache.lookup("Spring sale today.", 16000) is not None  # warm before it went live
    assert in_progress.version == 1
    _, actions = in_progress.runner.start("old-call")
    assert "Welcome to the little shop." in " ".join(getattr(a, "text", "") for a in actions)
    assert "flow little_shop version 2 live (pre-warm" in caplog.text

    rolled = await store.console.set_live("little_shop", 1, by="sue")
    result = await registry.refresh()  # what the web app does right after a rollback
    assert result is not None and (result.live, result.revision) == (1, rolled.revision)
    assert result.load_seconds == 0.0  # version 1 was still in memory
    assert registry.pick().runner is in_progress.runner
    assert await registry.refresh() is None
    status = registry.status()
    assert (status.name, status.live, status.candidate, status.revision) == ("little_shop", 1, None, rolled.revision)
    await registry.stop()


async def test_ab_candidate_gets_its_share(store: CallStore, voice: CachedSynthesizer, flow_file: Path) -> None:
    draws = iter([0.05, 0.5, 0.19, 0.2, 0.99])
    registry = await started(store, voice, flow_file, rng=lambda: next(draws))
    await store.console.store_version("little_shop", flow_text("Try our new menu."), by="sue", origin="console",
                                      make_live=False)  # fmt: skip
    await store.console.set_candidate("little_shop", 2, 20, by="sue")
    result = await registry.refresh()
    assert result is not None and (result.live, result.candidate, result.share) == (1, 2, 20)
    assert [registry.pick().version for _ in range(5)] == [2, 1, 2, 1, 1]
    assert registry.status().share == 20
    await store.console.set_candidate("little_shop", None, 0, by="sue")
    await registry.refresh()
    assert registry.status().candidate is None
    await registry.stop()


async def test_a_version_that_fails_to_load_keeps_the_old_one(
    store: CallStore, voice: CachedSynthesizer, flow_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = await started(store, voice, flow_file)
    broken = flow_text("Fine.").replace("next: greeting", "next: nowhere")
    await store.console.store_version("little_shop", broken, by="sue", origin="console")
    result = await registry.refresh()
    assert result is not None and result.live == 1 and "version 2" in result.error and "nowhere" in result.error
    assert registry.pick().version == 1
    assert "flow little_shop version 2 cannot be loaded, new calls keep version 1" in caplog.text
    assert await registry.refresh() is None  # not retried every poll
    await registry.stop()


def _answer(registry: FlowRegistry, question: str) -> str:
    from flows.conversation import Conversation
    from ivr.core.events import Say

    talk = Conversation(registry.pick().runner)
    talk.start()
    talk.say(question)
    return " ".join(e.text for e in talk.log if isinstance(e, Say))


async def test_the_knowledge_base_is_versioned_and_a_publish_reaches_new_calls(
    store: CallStore, voice: CachedSynthesizer, tmp_path: Path
) -> None:
    from tests.test_knowledge import FLOW as SHOP_FLOW
    from tests.test_knowledge import KB as SHOP_KB

    (tmp_path / "shop.yaml").write_text(SHOP_FLOW)
    (tmp_path / "shop_faq.yaml").write_text(SHOP_KB)
    registry = await started(store, voice, tmp_path / "shop.yaml")
    try:
        assert registry.knowledge_name == "shop_faq" and registry.knowledge_version == 1
        assert "Delivery costs five dollars." in _answer(registry, "how much is delivery?")
        states = {s.name: s for s in await store.console.live_states()}
        assert states["shop_faq"].kind == "knowledge" and states["shop_faq"].live == 1
        await store.console.store_version("shop_faq", SHOP_KB.replace("five dollars", "seven dollars"),
                                          by="sup", origin="console", kind="knowledge")  # fmt: skip
        deadline = time.monotonic() + 10
        while registry.knowledge_version != 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert registry.knowledge_version == 2, "the poll picks up a knowledge base publish"
        assert "Delivery costs seven dollars." in _answer(registry, "how much is delivery?")
        assert registry.pick().version == 1  # the flow itself did not change
    finally:
        await registry.stop()
    again = await started(store, voice, tmp_path / "shop.yaml")  # an unchanged file does not undo the publish
    try:
        assert again.knowledge_version == 2
    finally:
        await again.stop()
