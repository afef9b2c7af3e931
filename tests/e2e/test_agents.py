"""Agent queues over real SIP: the Acme caller presses 0, waits in 'support', and reaches an agent phone.

Two agent phones (`ivr call --listen`, pjsua2 processes) are configured as [[agents]]; the
call's record (turns, queue events, recording) is read back from the server's database.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ivr.core.audio import rms_dbfs
from ivr.storage import CallDetail, CallStore
from tests.conftest import FSDD, REPO
from tests.e2e.conftest import assert_clean_exit
from tests.e2e.harness import IvrServer, events, finish_call, free_port, start_call, start_server, wait_listening

pytestmark = pytest.mark.e2e
ACME = {"IVR_FLOWS__DEFAULT": str(REPO / "flows/acme_retail.yaml")}
HEADERS = ("X-IVR-Call-ID", "X-IVR-Intent", "X-IVR-Caller", "X-IVR-Transcript")


def _desk_toml(ann: int, bob: int, dee: int, eve: int) -> str:
    return f"""
[[queues]]
name = "support"
ring_timeout = 2
announce_interval = 4
wrap_up = 0.5
overflow = ""

[[agents]]
id = "ann"
name = "Ann"
sip_uri = "sip:ann@127.0.0.1:{ann}"
queues = ["support"]

[[agents]]
id = "bob"
name = "Bob"
sip_uri = "sip:bob@127.0.0.1:{bob}"
queues = ["support"]

[[queues]]
name = "returns"
ring_timeout = 3
wrap_up = 0.5
max_wait = 3
overflow = "voicemail:returns"

[[agents]]
id = "dee"
name = "Dee"
sip_uri = "sip:dee@127.0.0.1:{dee}"
queues = ["returns"]
skills = ["returns"]

[[agents]]
id = "eve"
name = "Eve"
sip_uri = "sip:eve@127.0.0.1:{eve}"
queues = ["returns"]
skills = ["returns", "en"]
"""


class Desk:
    """The server with its two agents' ports, and read access to its database."""

    def __init__(self, srv: IvrServer, *ports: int) -> None:
        self.srv = srv
        self.ann, self.bob, self.dee, self.eve = (*ports, 0, 0, 0, 0)[:4]

    def agent(self, port: int, *steps: str, extra: tuple[str, ...] = ()) -> Any:
        proc = start_call("", *steps, extra=("--listen", "--port", str(port), "--max-seconds", "40", *extra))
        wait_listening(proc)
        return proc

    def query(self, fn: Any) -> Any:
        async def run() -> Any:
            store = CallStore(f"sqlite:///{self.srv.root / 'var/ivr.db'}", spool_dir=self.srv.root / "var/t-spool")
            try:
                return await fn(store)
            finally:
                await store.close()

        return asyncio.run(run())

    def detail(self, call_id: str, until: Any = lambda d: d.ended_at is not None, timeout: float = 10) -> CallDetail:
        """The call's stored record, once `until(detail)` holds (the writer commits within milliseconds)."""
        deadline = time.monotonic() + timeout
        while True:
            d = self.query(lambda s: s.call_detail(call_id))
            if (d is not None and until(d)) or time.monotonic() > deadline:
                assert d is not None, f"call {call_id} not stored"
                return d  # type: ignore[no-any-return]
            time.sleep(0.2)

    def newest_call(self, since: datetime) -> str:
        rows = self.query(lambda s: s.cdr(since=since))
        assert rows, "no call stored"
        return str(rows[0].call_id)

    def stats(self, since: datetime, queue: str = "support") -> Any:
        stats = self.query(lambda s: s.queue_stats(since=since, queue=queue))
        return stats[0] if stats else None


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    ports = [free_port() for _ in range(4)]
    root = tmp_path_factory.mktemp("desk")
    srv = start_server(root, env=ACME, extra_toml=_desk_toml(*ports))
    yield Desk(srv, *ports)
    assert_clean_exit(srv)


def loud_seconds(pcm: bytes, rate: int, threshold: float = -40.0) -> float:
    n = rate // 50
    return sum(0.02 for i in range(0, len(pcm) // 2 - n, n) if rms_dbfs(pcm[2 * i : 2 * (i + n)]) > threshold)


def longest_silence(pcm: bytes, rate: int, start: float, end: float) -> float:
    """Longest run of frames below -45 dBFS between two times (seconds)."""
    n, run, worst = rate // 50, 0.0, 0.0
    for i in range(int(start * rate), int(end * rate) - n, n):
        run = run + 0.02 if rms_dbfs(pcm[2 * i : 2 * (i + n)]) < -45 else 0.0
        worst = max(worst, run)
    return worst


def channels(path: str) -> tuple[bytes, bytes]:
    import wave

    with wave.open(path) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    return frames[:, 0].tobytes(), frames[:, 1].tobytes()


def test_first_agent_gets_the_call_with_headers_and_a_working_transcript_link(desk: Desk, tmp_path: Path) -> None:
    since = datetime.now(UTC)
    ann = desk.agent(desk.ann, f"2.5 play {FSDD / '3_lucas_0.wav'}", "5.0 hangup",
                     extra=("--record", str(tmp_path / "ann.wav")))  # fmt: skip
    caller = start_call(desk.srv.uri, "1.5 dtmf 0", f"quiet play {FSDD / '5_nicolas_0.wav'}",
                        max_seconds=30, extra=("--record", str(tmp_path / "caller.wav")))  # fmt: skip
    a, c = finish_call(ann), finish_call(caller)

    assert a["answered"] and c["answered"]
    headers = a["headers"]
    assert set(HEADERS) <= set(headers), headers
    call_id = headers["X-IVR-Call-ID"]
    assert headers["X-IVR-Intent"] == "agent"  # what pressing 0 in the main menu means
    assert headers["X-IVR-Caller"] == "caller"  # the user part of the caller's From
    assert c["ended_by"] == "remote"  # the agent hung up, and the IVR ended the caller's leg too
    with urllib.request.urlopen(headers["X-IVR-Transcript"], timeout=10) as r:
        transcript = json.loads(r.read())
    said = [(t["speaker"], t["text"], t["intent"]) for t in transcript["turns"]]
    assert said[:2] == [("ivr", "Thank you for calling Acme.", ""), ("ivr", said[1][1], "")]
    assert ("caller", "[keys] 0", "agent") in said
    assert ("ivr", "Please hold while I connect you with an agent.", "") in said
    with pytest.raises(urllib.error.HTTPError) as forged:
        urllib.request.urlopen(headers["X-IVR-Transcript"].replace("sig=", "sig=0"), timeout=10)
    assert forged.value.code == 403

    # Audio went both ways through the bridge, and the recording has both sides.
    agent_heard = (tmp_path / "ann.wav").read_bytes()[44:]
    assert loud_seconds(agent_heard, 16000) > 0.2  # the caller's "five"
    d = desk.detail(call_id, until=lambda d: d.ended_at is not None and d.recordings)
    assert (d.status, d.queue, d.agent_id) == ("transferred", "support", "ann")
    (rec,) = d.recordings
    assert rec.status == "complete" and rec.channels == 2 and len(rec.sha256) == 64
    left, right = channels(rec.path)
    assert loud_seconds(left, 16000) > 0.2  # the caller
    caller_heard = (tmp_path / "caller.wav").read_bytes()[44:]
    assert abs(loud_seconds(right, 16000) - loud_seconds(caller_heard, 16000)) < 0.6  # prompts + agent
    kinds = [kind for _, kind, _, _ in d.queue_events]
    assert kinds == ["enqueued", "offered", "answered"]
    stats = desk.stats(since)
    assert (stats.offered, stats.answered, stats.abandoned) == (1, 1, 0)


def test_busy_agent_is_skipped_and_the_next_agent_answers(desk: Desk) -> None:
    # The returns queue (reached by 2, then 1 for "yes") is only used here, so Dee, the first in
    # config and as idle as Eve, is offered the call first; her phone is busy.
    since = datetime.now(UTC)
    dee = desk.agent(desk.dee, extra=("--answer-code", "486"))
    eve = desk.agent(desk.eve, "1.0 hangup")
    caller = start_call(desk.srv.uri, "1.5 dtmf 2", "+1.0 dtmf 1", max_seconds=30)
    d_, e, c = finish_call(dee), finish_call(eve), finish_call(caller)
    assert not d_["answered"] and d_["headers"]["X-IVR-Call-ID"] == e["headers"]["X-IVR-Call-ID"]
    assert e["answered"] and c["answered"]
    assert set(HEADERS) <= set(e["headers"])
    d = desk.detail(e["headers"]["X-IVR-Call-ID"])
    assert [(kind, agent) for _, kind, _, agent in d.queue_events] == [
        ("enqueued", ""), ("offered", "dee"), ("no_answer", "dee"), ("offered", "eve"), ("answered", "eve"),
    ]  # fmt: skip
    assert (d.status, d.queue, d.agent_id) == ("transferred", "returns", "eve")
    desk.srv.wait_log("agent dee (sip:dee@127.0.0.1:")  # the refusal is logged with the URI ...
    assert "486" in desk.srv.log().split("agent dee (sip:dee@127.0.0.1:")[-1].splitlines()[0]  # ... and the code
    assert desk.stats(since, "returns").answered == 1


def test_a_caller_nobody_answers_overflows_to_voicemail(desk: Desk) -> None:
    # After the test above Dee is not ready (her phone was busy); Eve's phone is not running now,
    # so she rings out too and the caller, past the returns queue's max_wait, leaves a message.
    since = datetime.now(UTC)
    t = start_call(desk.srv.uri, "1.5 dtmf 2", "+1.0 dtmf 1", f"quiet play {FSDD / '5_nicolas_0.wav'}",
                   "+1.0 dtmf #", max_seconds=45)  # fmt: skip
    timeline = finish_call(t)
    assert timeline["answered"] and timeline["ended_by"] == "remote"  # the IVR said goodbye and hung up
    d = desk.detail(desk.newest_call(since))
    assert (d.status, d.queue) == ("voicemail", "returns")
    kinds = [kind for _, kind, _, _ in d.queue_events]
    assert kinds[0] == "enqueued" and kinds[-1] == "overflow" and "no_answer" in kinds
    saved = list((desk.srv.root / "var/recordings/voicemail/returns").glob(f"{d.call_id}-*.wav"))
    assert len(saved) == 1
    log = desk.srv.log()
    assert f"acd: call {d.call_id} overflows (max_wait) to voicemail:returns" in log
    assert f"call {d.call_id}: voicemail for returns saved" in log
    assert desk.stats(since, "returns").overflowed == 1


def test_caller_who_hangs_up_while_agents_are_unreachable_is_abandoned_and_never_in_silence(
    desk: Desk, tmp_path: Path
) -> None:
    # Nobody listens on either agent's port: each offer rings out and that agent is set not ready
    # (the default no_answer policy), so the caller waits, hearing music and announcements.
    # Runs after the tests that need Ann and Bob ready.
    since = datetime.now(UTC)
    heard = tmp_path / "caller.wav"
    t = start_call(desk.srv.uri, "1.5 dtmf 0", "12.0 hangup", max_seconds=30, extra=("--record", str(heard)))
    timeline = finish_call(t)
    assert timeline["answered"] and timeline["ended_by"] == "local"
    pcm = heard.read_bytes()[44:]
    hangup_at = events(timeline, "hangup_sent")[0]["t"] - events(timeline, "answered")[0]["t"]
    assert longest_silence(pcm, 16000, 2.0, hangup_at - 0.3) < 1.0  # hold music and announcements, no dead air
    call_id = desk.newest_call(since)
    d = desk.detail(call_id)
    assert d.status == "abandoned"
    assert [(kind, agent) for _, kind, _, agent in d.queue_events] == [
        ("enqueued", ""),
        ("offered", "bob"), ("offer_cancelled", "bob"), ("no_answer", "bob"),  # rang out: Bob is set not ready
        ("offered", "ann"), ("offer_cancelled", "ann"), ("no_answer", "ann"),
        ("abandoned", ""),
    ]  # fmt: skip
    stats = desk.stats(since)
    assert (stats.offered, stats.answered, stats.abandoned) == (1, 0, 1)
    log = desk.srv.log()
    assert f"call {call_id}: agent ann (sip:ann@127.0.0.1:{desk.ann}) did not answer in time" in log
    assert f"call {call_id} waiting in support hears 'You are next in line. Please stay on the line.'" in log


def test_a_locked_database_delays_records_but_never_the_caller(desk: Desk, tmp_path: Path) -> None:
    """SQLite held locked for longer than its busy timeout: the call runs as usual, the records follow."""
    since = datetime.now(UTC)
    db = sqlite3.connect(desk.srv.root / "var/ivr.db", timeout=10, isolation_level=None, check_same_thread=False)
    db.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(9.0, db.commit)
    release.start()
    try:
        heard = tmp_path / "heard.wav"
        t = start_call(desk.srv.uri, "1.5 dtmf 3", "quiet hangup", max_seconds=40, extra=("--record", str(heard)))
        timeline = finish_call(t)
    finally:
        release.join()
        db.close()
    dtmf = events(timeline, "dtmf_sent")[0]["t"] - events(timeline, "answered")[0]["t"]
    pcm = heard.read_bytes()[44:]
    assert longest_silence(pcm, 16000, dtmf, dtmf + 6.0) < 0.5  # the store hours followed the key at once
    desk.srv.wait_log("storage: database unavailable", timeout=5)
    desk.srv.wait_log("storage: database is back", timeout=20)
    d = desk.detail(desk.newest_call(since))
    said = [(t.speaker, t.text) for t in d.turns]
    assert ("caller", "[keys] 3") in said
    assert any(text.startswith("Our stores are open") for _, text in said)
    assert d.status == "completed" and d.recordings and d.recordings[0].status == "complete"


def test_kill_9_during_a_call_leaves_an_interrupted_call_with_its_turns_and_a_playable_recording(
    tmp_path: Path,
) -> None:
    root = tmp_path / "srv"
    env = {**ACME, "IVR_TTS__CACHE_DIR": str(tmp_path / "prompts")}
    srv = start_server(root, workers=1, kamailio=False, env=env)
    caller = start_call(srv.uri, "1.5 dtmf 3", max_seconds=30)
    try:
        srv.wait_log("says 'Our stores are open", timeout=20)
        time.sleep(2.0)
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(10)
        timeline = finish_call(caller)  # the worker loses its control process and hangs up
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
    assert timeline["answered"] and timeline["ended_by"] == "remote"
    answered = events(timeline, "answered")[0]["t"]
    lasted = events(timeline, "hangup")[0]["t"] - answered  # the caller saw the BYE just after the kill
    restarted = start_server(root, workers=1, kamailio=False, env=env)
    try:
        restarted.wait_log("marked interrupted")
        restarted.wait_log("recordings: repaired")
        desk = Desk(restarted, 0, 0)
        call_id = desk.newest_call(datetime.fromtimestamp(0, UTC))
        d = desk.detail(call_id, until=lambda d: d.recordings)
        assert d.status == "interrupted"
        said = [(t.speaker, t.text) for t in d.turns]
        assert said[0] == ("ivr", "Thank you for calling Acme.")
        assert ("caller", "[keys] 3") in said and any(text.startswith("Our stores") for _, text in said)
        (rec,) = d.recordings
        assert rec.status == "repaired" and len(rec.sha256) == 64
        _, right = channels(rec.path)
        duration = len(right) / 2 / 16000
        # Playable up to the kill: the file is flushed every second, so at most about that is lost.
        assert lasted - 1.5 < duration <= lasted + 0.2, (duration, lasted)
        assert loud_seconds(right, 16000) > 1.5  # the prompts are in it (3.5 s were played, ~1 s may be lost)
    finally:
        assert_clean_exit(restarted)
