"""/metrics: FloorStats numbers fed by call events, a real ACD, store and decode executor, scraped and parsed."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from asr.stream import ExecutorRecognizer, Hypothesis
from ivr.core.config import AgentConfig, QueueConfig, WebConfig
from ivr.core.events import Listen, Say, SpeechEnded, SpeechStarted, Transcript
from ivr.core.interfaces import Grammar, RecognizerCapabilities, RecognizerStream
from ivr.session.acd import Acd
from ivr.session.floor import FloorStats
from ivr.session.links import TranscriptLinks
from ivr.storage import CallStore
from ivr.web.context import CONTEXT, WebContext
from ivr.web.metrics import add_metrics_route
from telephony.switchboard import Switchboard


@dataclass
class Call:
    """What FloorStats reads of a FlowCall: its id and whether the flow listens."""

    call_id: str
    listen: Listen | None = None


class Silence:
    """A decoder that hears nothing."""

    def accept(self, pcm: bytes) -> Hypothesis | None:
        return None

    def finish(self) -> Hypothesis:
        return Hypothesis("")


class DeafEngine(ExecutorRecognizer):
    """A recognizer with one decode thread (the executor every engine decodes on)."""

    def __init__(self) -> None:
        self._start_executor(None, 1, time.monotonic, RecognizerCapabilities("deaf", "en-us", 16000))

    def stream(self, call_id: str, grammar: Grammar | None = None) -> RecognizerStream:
        return self._stream(call_id, Silence(), 16000)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CallStore]:
    s = CallStore(f"sqlite:///{tmp_path / 'ivr.db'}", spool_dir=tmp_path / "spool", node="n1")
    await s.start()
    yield s
    await s.close()


def talk(floor: FloorStats, clock: Clock, call: Call, text: str, reply_after: float) -> None:
    """The caller says `text` while the flow listens; the reply's audio is ready `reply_after` s after speech ends."""
    call.listen = Listen(call.call_id, timer="t1")
    floor.event(call, SpeechStarted(call.call_id))
    floor.event(call, SpeechEnded(call.call_id, at=clock.now))
    clock.now += reply_after / 2  # the decode
    floor.event(call, Transcript(call.call_id, text=text, final=True, confidence=0.9))
    call.listen = None
    clock.now += reply_after / 2  # the flow, the lookup, the synthesis
    floor.event(call, Say(call.call_id, text="Here is your answer."))


def app_for(store: CallStore, floor: FloorStats, tmp_path: Path, token: str = "") -> web.Application:
    config = WebConfig(metrics_token=token)
    links = TranscriptLinks.from_config(config, tmp_path / "web-secret")
    app = web.Application()
    app[CONTEXT] = WebContext(store=store, links=links, config=config, floor=floor)
    add_metrics_route(app)
    return app


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_floor_numbers_scraped(store: CallStore, tmp_path: Path, aiohttp_client: Any) -> None:
    clock = Clock()
    floor = FloorStats(clock=clock)
    queues = [QueueConfig(name="support"), QueueConfig(name="returns")]
    agents = [AgentConfig(id="ann", queues=("support",)), AgentConfig(id="bob", queues=("support",))]
    acd = Acd(queues, agents, clock=clock)
    acd.distributor.login("ann")  # bob stays logged out
    acd.enqueue("q1", "support")  # offered to ann, who rings
    clock.now += 4.0
    acd.enqueue("q2", "support")
    clock.now += 8.0
    engine = DeafEngine()
    busy, release = threading.Event(), threading.Event()

    def decode() -> None:  # holds the only decode thread until released
        busy.set()
        release.wait(10)

    jobs = [engine._executor.submit(decode) for _ in range(3)]
    busy.wait(5)
    floor.watch(acd=acd, board=Switchboard("127.0.0.1", 0), store=store, recognizer=engine, workers_expected=2)

    done, transferred, talking = Call("c-done"), Call("c-transferred"), Call("c-talking")
    for call in (done, transferred, talking):
        floor.call_started(call.call_id)
    talk(floor, clock, done, "where is my order", reply_after=0.6)
    talk(floor, clock, done, "no thanks", reply_after=1.8)
    floor.event(transferred, Transcript(transferred.call_id, text="agent", final=True))  # not listening: no turn
    talk(floor, clock, talking, "store hours", reply_after=0.3)
    floor.event(talking, SpeechEnded(talking.call_id, at=clock.now))  # a cough the flow did not take
    floor.event(talking, Say(talking.call_id, text="Sorry?"))
    floor.call_ended(done.call_id, "completed")
    floor.call_ended(transferred.call_id, "transferred")

    client = await aiohttp_client(app_for(store, floor, tmp_path))
    response = await client.get("/metrics")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    got = samples(await response.text())
    release.set()
    for job in jobs:
        job.result(5)
    engine.close()

    assert got[("ivr_calls_active", ())] == 1
    assert got[("ivr_calls_total", (("outcome", "completed"),))] == 1
    assert got[("ivr_calls_total", (("outcome", "transferred"),))] == 1
    assert got[("ivr_turns_total", ())] == 3
    assert got[("ivr_reply_latency_seconds_count", ())] == 3
    assert got[("ivr_reply_latency_seconds_sum", ())] == pytest.approx(0.6 + 1.8 + 0.3)
    bucket = "ivr_reply_latency_seconds_bucket"
    assert [got[(bucket, (("le", le),))] for le in ("0.25", "0.5", "0.75", "1.5", "2.0", "+Inf")] == [0, 1, 2, 2, 3, 3]
    assert got[("ivr_decode_backlog", ())] == 2  # one decode runs, two wait for the thread
    assert got[("ivr_queue_waiting", (("queue", "support"),))] == 2
    assert got[("ivr_queue_oldest_wait_seconds", (("queue", "support"),))] == pytest.approx(12.0 + 0.6 + 1.8 + 0.3)
    assert got[("ivr_queue_waiting", (("queue", "returns"),))] == 0
    assert got[("ivr_agents", (("state", "ringing"),))] == 1
    assert got[("ivr_agents", (("state", "offline"),))] == 1
    assert got[("ivr_agents", (("state", "available"),))] == 0
    assert got[("ivr_workers_up", ())] == 0 and got[("ivr_workers_expected", ())] == 2
    assert got[("ivr_db_write_backlog", ())] == 0 and got[("ivr_db_available", ())] == 1
    assert got[("process_resident_memory_bytes", ())] > 10e6


async def test_metrics_token(store: CallStore, tmp_path: Path, aiohttp_client: Any) -> None:
    client = await aiohttp_client(app_for(store, FloorStats(), tmp_path, token="s3cret-scraper"))
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
    ok = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-scraper"})
    assert ok.status == 200 and ("ivr_calls_active", ()) in samples(await ok.text())
