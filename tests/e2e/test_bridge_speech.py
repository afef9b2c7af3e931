"""Live transcripts of a call bridged to an agent, over real SIP: the caller presses 0, reaches an agent phone
(`ivr call --listen`), and both talk. Each party is recognized on their own channel, in the bot's recognizer pool;
the supervisor's live stream shows their turns while the call is up, and the call's record keeps them."""

from __future__ import annotations

import http.cookiejar
import json
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asr.corpus import DigitTake, spoken_digits
from ivr.core.audio import write_wav
from tests.conftest import FSDD
from tests.e2e.conftest import assert_clean_exit
from tests.e2e.harness import IVR, IvrServer, finish_call, free_port, start_call, start_server, wait_listening
from tests.e2e.test_agents import ACME, Desk

pytestmark = pytest.mark.e2e
PASSWORD = "bridged speech password"


def _toml(ann: int) -> str:
    return f"""
[[queues]]
name = "support"
ring_timeout = 5
wrap_up = 0.5
overflow = ""

[[agents]]
id = "ann"
name = "Ann"
sip_uri = "sip:ann@127.0.0.1:{ann}"
queues = ["support"]
"""


class LiveStream:
    """A supervisor logged in to the console, reading /api/live/stream (server-sent events) in a thread."""

    def __init__(self, srv: IvrServer) -> None:
        base = f"http://127.0.0.1:{srv.web_port}"
        # The session cookie is Secure; a browser sends it to http://127.0.0.1 (a secure origin), urllib must be told.
        jar = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(secure_protocols=("https", "http")))
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with self.opener.open(f"{base}/api/session", timeout=10) as r:
            csrf = json.loads(r.read())["csrf"]
        body = json.dumps({"username": "supervisor", "password": PASSWORD}).encode()
        login = urllib.request.Request(f"{base}/api/session", body,
                                       {"Content-Type": "application/json", "X-CSRF-Token": csrf})  # fmt: skip
        with self.opener.open(login, timeout=10) as r:
            assert json.loads(r.read())["role"] == "supervisor"
        self.records: list[dict[str, Any]] = []
        self._response = self.opener.open(f"{base}/api/live/stream", timeout=30)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        event = ""
        try:
            for raw in self._response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "records":
                    self.records.extend(json.loads(line[6:]))
        except (OSError, ValueError, AttributeError):  # AttributeError: http.client read from a closed response
            pass  # closed by the test or the server

    def close(self) -> None:
        self._response.close()


@pytest.fixture
def server(tmp_path: Path, pytestconfig: pytest.Config) -> Iterator[tuple[IvrServer, int]]:
    ann = free_port()
    cache = getattr(pytestconfig, "cache", None)  # prompts kept between runs, as a deployment keeps var/prompts
    prompts = cache.mkdir("ivr-e2e-prompts") if cache is not None else tmp_path / "prompts"
    env = {**ACME, "IVR_PASSWORD_STDIN": "1", "IVR_TTS__CACHE_DIR": str(prompts)}
    srv = start_server(tmp_path / "srv", workers=1, kamailio=False, env=env, extra_toml=_toml(ann))
    try:
        add = subprocess.run([*IVR, "users", "add", "supervisor", "--config", str(srv.root / "config.toml"),
                              "--role", "supervisor"], input=PASSWORD + "\n", capture_output=True, text=True,
                             cwd=srv.root, env=srv.env, timeout=60)  # fmt: skip
        assert add.returncode == 0, add.stderr
        yield srv, ann
    finally:
        assert_clean_exit(srv)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


_NUMBERS = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine".split())} | {"oh": "0"}


def _digits(text: str) -> str:
    """The digits said, whether the recognizer wrote '4, 0, 7', '407' or 'four oh seven'."""
    return "".join(_NUMBERS.get(w, w if w.isdigit() else "") for w in re.findall(r"[a-z]+|\d", text.lower()))


def _reading(digits: str, path: Path) -> Path:
    """An agent reading digits (real FSDD takes of one speaker, joined as in a spoken number)."""
    takes = [DigitTake(FSDD / f"{d}_george_{i}.wav", int(d), "george") for i, d in enumerate(digits)]
    write_wav(path, spoken_digits(takes), 8000)
    return path


def test_caller_and_agent_are_transcribed_each_on_their_own_channel_while_the_call_is_up(
    server: tuple[IvrServer, int], tmp_path: Path
) -> None:
    srv, port = server
    reading1, reading2 = _reading("407", tmp_path / "407.wav"), _reading("25", tmp_path / "25.wav")
    live = LiveStream(srv)
    try:
        # The agent reads 4 0 7, then 2 5; the caller, once the hold music has stopped, says "order status".
        agent = start_call("", f"1.0 play {reading1}", f"+3.0 play {reading2}",
                           "12.0 hangup", extra=("--listen", "--port", str(port), "--max-seconds", "40"))  # fmt: skip
        wait_listening(agent)
        # Two quiet periods after the key: the hold prompt or music has ended, so the call is bridged by then.
        caller = start_call(srv.uri, "1.5 dtmf 0", "quiet wait", "quiet wait", "+0.5 say order status",
                            max_seconds=40)  # fmt: skip
        a, c = finish_call(agent), finish_call(caller)
        assert a["answered"] and c["answered"] and c["ended_by"] == "remote"  # the agent hung up
        call_id = a["headers"]["X-IVR-Call-ID"]
        desk = Desk(srv, port)
        d = desk.detail(call_id, until=lambda d: d.ended_at is not None)
    finally:
        time.sleep(0.5)
        live.close()

    said = [(t.speaker, t.text, t.start_offset) for t in d.turns]
    agent_turns = [(text, start) for speaker, text, start in said if speaker == "agent"]
    caller_bridged = [text for speaker, text, _ in said if speaker == "caller" and "order" in _words(text)]
    assert len(agent_turns) == 2, said  # one turn per reading: each segment of the agent's speech
    assert (_digits(agent_turns[0][0]), _digits(agent_turns[1][0])) == ("407", "25"), said
    starts = [start for _, start in agent_turns]
    assert starts[0] is not None and starts[1] is not None and 0 < starts[0] < starts[1]  # offsets into the recording
    assert caller_bridged and "status" in _words(caller_bridged[0]), said  # the caller's own channel
    assert not any("order" in _words(text) for text, _ in agent_turns)  # channels do not leak into each other

    # The live stream had them while the call was up: before the caller's leg was hung up.
    mine = [r for r in live.records if r.get("call_id") == call_id]
    kinds = [r["kind"] for r in mine]
    assert "bridged_turn" in kinds and "hangup" in kinds, kinds
    first = kinds.index("bridged_turn")
    assert first < kinds.index("hangup"), kinds
    assert mine[first]["speaker"] == "agent" and mine[first]["agent_id"] == "ann"
    assert {r["speaker"] for r in mine if r["kind"] == "bridged_turn"} == {"agent", "caller"}
    assert kinds.index("call_ended") > max(i for i, k in enumerate(kinds) if k == "bridged_turn")
    assert srv.log().count(f"call {call_id}: transcribing the caller and agent ann") == 1
