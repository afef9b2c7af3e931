"""Publishing a flow into a running `ivr serve` with `ivr flows publish`: no restart, calls in progress keep theirs.

A long call starts on version 1. While it waits at the menu, a changed greeting is published from the command
line. The long call then asks for the greeting again and still hears the old one; a new call hears the new one,
with audio of the new length; the calls table records the version each call ran.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ivr.core.config import TtsConfig
from ivr.storage import CallDetail, CallStore
from tests.conftest import REPO
from tests.e2e.conftest import assert_clean_exit
from tests.e2e.harness import IVR, IvrServer, events, finish_call, run_call, start_call, start_server
from tts.cached import CachedSynthesizer

pytestmark = pytest.mark.e2e

OLD = "Welcome to the shop."
NEW = "Welcome to the shop. Our spring sale starts today, with twenty percent off every garden tool."
MENU = "Press 1 to hear our greeting again, or 2 to leave."

FLOW = """\
flow: shop
title: Greeting publish test
start: greeting
defaults:
  timeout: 60
  no_input_retries: 0
  on_failure: bye
steps:
  greeting:
    kind: say
    text: {greeting}
    next: menu
  menu:
    kind: menu
    prompt: {menu}
    options:
      - {{keys: "1", next: greeting}}
      - {{keys: "2", next: bye}}
  bye:
    kind: hangup
    text: Goodbye.
"""

TESTS = """\
flow: shop.yaml
cases:
  - name: greeting, menu, goodbye
    script:
      - expect: Welcome to the shop.
      - expect: Press 1
      - dtmf: "2"
      - expect: Goodbye
      - expect_end: hangup
"""


def write_flow(directory: Path, greeting: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "shop.yaml"
    path.write_text(FLOW.format(greeting=greeting, menu=MENU))
    (directory / "shop.tests.yaml").write_text(TESTS)
    return path


def stored_call(root: Path, call_id: str) -> CallDetail:
    """The call's record once it has ended (the writer commits within milliseconds)."""

    async def read() -> CallDetail | None:
        store = CallStore(f"sqlite:///{root / 'var/ivr.db'}", spool_dir=root / "var/t-spool")
        try:
            return await store.call_detail(call_id)
        finally:
            await store.close()

    deadline = time.monotonic() + 10
    while True:
        detail = asyncio.run(read())
        if detail is not None and detail.ended_at is not None:
            return detail
        assert time.monotonic() < deadline, f"call {call_id} was not stored as ended"
        time.sleep(0.2)


def greeting_seconds(tmp_path: Path) -> tuple[float, float]:
    """How long the old and the new greeting sound, from the same TTS the server uses."""

    async def synth() -> tuple[float, float]:
        async with await CachedSynthesizer.open(TtsConfig(), tmp_path / "prompts") as voice:
            old, new = [len(await voice.say(text, 16000)) / 32000 for text in (OLD, NEW)]  # PCM16 at 16 kHz
            return old, new

    return asyncio.run(synth())


def first_prompt_seconds(timeline: dict[str, Any]) -> float:
    """Length of the first thing the caller heard (the greeting and the menu, played back to back)."""
    return float(events(timeline, "prompt_end")[0]["t"] - events(timeline, "prompt_start")[0]["t"])


def ivr_said(detail: CallDetail) -> list[str]:
    return [t.text for t in detail.turns if t.speaker == "ivr"]


def test_publish_reaches_new_calls_and_calls_in_progress_keep_their_version(tmp_path: Path) -> None:
    live_file = write_flow(tmp_path / "deployed", OLD)
    srv = start_server(tmp_path / "serve", workers=1, kamailio=False, env={"IVR_FLOWS__DEFAULT": str(live_file)})
    try:
        srv.wait_log("flow shop version 1 live")
        # The long call: hears greeting and menu, waits at the menu while the publish happens, then asks for the
        # greeting again at 30 s (the publish is live well before, even on a busy machine), then leaves.
        long_call = start_call(srv.uri, "30 dtmf 1", "quiet dtmf 2", max_seconds=60)
        srv.wait_log(f"says {MENU!r}", timeout=20)

        new_file = write_flow(tmp_path / "git", NEW)
        cli = subprocess.run([*IVR, "flows", "publish", "--config", str(srv.root / "config.toml"), "--note",
                              "spring sale", str(new_file)], capture_output=True, text=True, cwd=REPO, timeout=60,
                             env=srv.env)  # fmt: skip
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert "1 test case(s) passed" in cli.stdout and "flow shop: published version 2, live now" in cli.stdout
        srv.wait_log("flow shop version 2 live (pre-warm", timeout=10)

        new_call = run_call(srv.uri, "quiet dtmf 2", max_seconds=40)  # while the long call is still in progress
        old = finish_call(long_call, timeout=90)
        floor = scrape(srv, lambda got: got.get(("ivr_calls_total", (("outcome", "completed"),))) == 2)
    finally:
        assert_clean_exit(srv)

    log = srv.log()
    assert log.index("flow shop version 2 live") < log.index("DTMF 1"), "the long call pressed 1 before the publish"
    offered = re.findall(r"call (\S+) offered on \S+ from .*; flow shop version (\d+)", log)
    assert len(offered) == 2, offered
    (old_id, old_version), (new_id, new_version) = offered
    assert (old_version, new_version) == ("1", "2")

    old_detail, new_detail = stored_call(srv.root, old_id), stored_call(srv.root, new_id)
    assert (old_detail.flow_name, old_detail.flow_version) == ("shop", 1)
    assert (new_detail.flow_name, new_detail.flow_version) == ("shop", 2)
    assert ivr_said(old_detail) == [OLD, MENU, OLD, MENU, "Goodbye."]  # the replay after the publish is still v1
    assert ivr_said(new_detail) == [NEW, MENU, "Goodbye."]

    # The new greeting is what the new caller heard: its first prompt is longer by the greetings' difference.
    old_s, new_s = greeting_seconds(tmp_path)
    heard_extra = first_prompt_seconds(new_call) - first_prompt_seconds(old)
    assert abs(heard_extra - (new_s - old_s)) < 0.3, (heard_extra, old_s, new_s)
    # /metrics of the same server saw both calls end, and its one media worker
    assert floor[("ivr_calls_active", ())] == 0 and floor[("ivr_workers_up", ())] == 1
    assert floor[("ivr_db_available", ())] == 1


def scrape(srv: IvrServer, until: Callable[[dict[Any, float]], bool], timeout: float = 10) -> dict[Any, float]:
    """The server's /metrics samples, once `until(samples)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.web_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        got = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}  # fmt: skip
        if until(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.2)
