"""`ivr flows publish` against a real SQLite database: tested flows go live, failing ones are refused."""

from __future__ import annotations

import asyncio
import getpass
import shutil
from pathlib import Path

import pytest

from ivr.__main__ import main
from ivr.storage import CallStore, VersionInfo
from tests.conftest import REPO

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
    prompt: Press 1 to hear this again, or 2 to leave.
    options:
      - {{keys: "1", next: greeting}}
      - {{keys: "2", next: bye}}
  bye:
    kind: hangup
    text: Goodbye.
"""

TESTS = """\
flow: little_shop.yaml
cases:
  - name: greets and says goodbye
    script:
      - expect: Welcome
      - dtmf: "2"
      - expect: Goodbye
      - expect_end: hangup
"""


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, Path]:
    """A flow file with its test cases, and a config.toml whose database is in tmp_path."""
    (tmp_path / "flows").mkdir()
    flow = tmp_path / "flows" / "little_shop.yaml"
    flow.write_text(FLOW.format(greeting="Welcome to the little shop."))
    (tmp_path / "flows" / "little_shop.tests.yaml").write_text(TESTS)
    config = tmp_path / "config.toml"
    config.write_text('[storage]\nurl = "sqlite:///var/ivr.db"\nspool_dir = "var/spool"\n')
    return flow, config


def stored(config: Path) -> list[VersionInfo]:
    async def read() -> list[VersionInfo]:
        store = CallStore(f"sqlite:///{config.parent / 'var/ivr.db'}", spool_dir=config.parent / "var/t-spool")
        await store.start()
        try:
            return await store.console.versions("little_shop")
        finally:
            await store.close()

    return asyncio.run(read())


def publish(flow: Path, config: Path, *extra: str) -> int:
    return main(["flows", "publish", "--config", str(config), *extra, str(flow)])


def test_publish_stores_a_live_version_by_the_os_user(
    shop: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    flow, config = shop
    assert publish(flow, config, "--note", "new greeting") == 0
    out = capsys.readouterr().out
    assert "1 test case(s) passed" in out and "published version 1, live now" in out
    [v] = stored(config)
    assert (v.version, v.origin, v.published_by, v.note) == (1, "cli", getpass.getuser(), "new greeting")

    assert publish(flow, config) == 0  # the same text again: nothing new
    assert "version 1 is live and has this text already" in capsys.readouterr().out
    flow.write_text(FLOW.format(greeting="Welcome back to the little shop."))
    assert publish(flow, config) == 0
    assert [v.version for v in stored(config)] == [2, 1]


def test_failing_test_cases_refuse_the_publish(shop: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    flow, config = shop
    flow.write_text(FLOW.format(greeting="Hello there."))  # the test case expects "Welcome"
    assert publish(flow, config) == 2
    out = capsys.readouterr().out
    assert "FAIL  greets and says goodbye" in out and "1 of 1 test case(s) failed" in out
    assert "not published" in out
    assert not (config.parent / "var/ivr.db").exists()  # refused before touching the database


def test_an_invalid_flow_is_refused_with_its_problems(
    shop: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    flow, config = shop
    flow.write_text(FLOW.format(greeting="Welcome.").replace("next: bye", "next: byee"))
    assert publish(flow, config) == 2
    out = capsys.readouterr().out
    assert "byee" in out and "this flow cannot go live" in out and "not published" in out


def test_a_knowledge_base_is_published_after_the_cases_of_the_flows_that_answer_from_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    for name in ("acme_retail.yaml", "acme_retail.tests.yaml", "acme_faq.yaml"):
        shutil.copy(REPO / "flows" / name, flows_dir / name)
    config = tmp_path / "config.toml"
    config.write_text('[storage]\nurl = "sqlite:///var/ivr.db"\nspool_dir = "var/spool"\n')
    faq = flows_dir / "acme_faq.yaml"
    good = faq.read_text()
    faq.write_text(good.replace("Standard delivery costs four dollars ninety nine", "Delivery is cheap"))
    assert publish(faq, config) == 2  # a case of acme_retail expects the delivery answer
    out = capsys.readouterr().out
    assert "acme_retail.tests.yaml" in out and "test case(s) failed; fix the knowledge or the tests" in out

    faq.write_text(good)
    assert publish(faq, config, "--note", "delivery prices") == 0
    out = capsys.readouterr().out
    assert "acme_retail.tests.yaml:" in out and "knowledge base acme_faq: published version 1, live now" in out

    async def kinds() -> list[tuple[str, str, int | None]]:
        store = CallStore(f"sqlite:///{tmp_path / 'var/ivr.db'}", spool_dir=tmp_path / "var/t-spool")
        await store.start()
        try:
            return [(s.name, s.kind, s.live) for s in await store.console.live_states()]
        finally:
            await store.close()

    assert asyncio.run(kinds()) == [("acme_faq", "knowledge", 1)]
