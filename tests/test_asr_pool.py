"""DecodePool: bridged calls' decodes (background lane) never hold up a bot turn's decode (foreground)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future

import pytest

from asr.pool import DecodePool


@pytest.fixture
def pools() -> Iterator[Callable[[int, int], DecodePool]]:
    made: list[DecodePool] = []

    def make(workers: int, background: int) -> DecodePool:
        made.append(DecodePool(workers, background, name="test-asr"))
        return made[-1]

    yield make
    for pool in made:
        pool.shutdown(wait=True, cancel_futures=True)


def _note(log: list[str], name: str) -> Callable[[], str]:
    def job() -> str:
        log.append(name)
        return name

    return job


def _blocker(gate: threading.Event, log: list[str], name: str) -> Callable[[], str]:
    def job() -> str:
        log.append(f"{name} start")
        assert gate.wait(10)
        log.append(f"{name} end")
        return name

    return job


def test_a_bot_decode_runs_at_once_while_bridged_decodes_fill_the_background(pools: Callable[..., DecodePool]) -> None:
    pool = pools(1, 1)
    gate, log = threading.Event(), list[str]()
    bridged = [pool.background.submit(_blocker(gate, log, f"bridged{i}")) for i in range(5)]
    bot = pool.submit(lambda: "bot")
    assert bot.result(timeout=5) == "bot"  # while every bridged decode is still running or waiting
    assert not any(f.done() for f in bridged)
    assert log == ["bridged0 start"]  # only one background thread: the other four wait
    assert pool.background_backlog == 4
    gate.set()
    assert [f.result(timeout=5) for f in bridged] == [f"bridged{i}" for i in range(5)]


def test_queued_bot_decodes_start_before_queued_bridged_ones(pools: Callable[..., DecodePool]) -> None:
    pool = pools(1, 0)  # no background threads: the one thread serves both lanes
    gate, log = threading.Event(), list[str]()
    first = pool.submit(_blocker(gate, log, "bot0"))
    while not log:
        time.sleep(0.001)
    bridged = pool.background.submit(_note(log, "bridged"))
    bot = pool.submit(_note(log, "bot1"))
    assert pool.backlog == 1 and pool.background_backlog == 1
    gate.set()
    for f in (first, bot, bridged):
        f.result(timeout=5)
    assert log == ["bot0 start", "bot0 end", "bot1", "bridged"]


def test_background_decodes_never_take_more_than_their_threads(pools: Callable[..., DecodePool]) -> None:
    pool = pools(2, 1)
    gate, log = threading.Event(), list[str]()
    jobs = [pool.background.submit(_blocker(gate, log, f"b{i}")) for i in range(3)]
    time.sleep(0.2)
    assert log == ["b0 start"]  # two idle foreground threads do not take bridged work
    bots = [pool.submit(_blocker(gate, log, f"bot{i}")) for i in range(2)]
    deadline = time.monotonic() + 5
    while len([e for e in log if e.startswith("bot")]) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert sorted(e for e in log if e.startswith("bot")) == ["bot0 start", "bot1 start"]  # both at once
    gate.set()
    for f in [*jobs, *bots]:
        f.result(timeout=5)


def test_a_decode_cancelled_while_waiting_never_runs(pools: Callable[..., DecodePool]) -> None:
    pool = pools(1, 1)
    gate, log = threading.Event(), list[str]()
    running = pool.background.submit(_blocker(gate, log, "b0"))
    waiting: Future[str] = pool.background.submit(_note(log, "dropped"))
    assert waiting.cancel()
    gate.set()
    assert running.result(timeout=5) == "b0"
    with pytest.raises(CancelledError):
        waiting.result(timeout=5)
    pool.submit(lambda: None).result(timeout=5)
    assert "dropped" not in log


def test_errors_reach_the_caller_and_a_closed_pool_refuses_work(pools: Callable[..., DecodePool]) -> None:
    pool = pools(1, 1)

    def fail() -> None:
        raise ValueError("engine failed")

    with pytest.raises(ValueError, match="engine failed"):
        pool.background.submit(fail).result(timeout=5)
    assert pool.submit(lambda: 42).result(timeout=5) == 42
    pool.shutdown(wait=True)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(lambda: 1)


def test_a_bridged_decode_waits_while_a_bot_decode_runs(pools: Callable[..., DecodePool]) -> None:
    pool = pools(1, 1)  # a background thread is free, but the CPU is the bot's while its decode runs
    gate, log = threading.Event(), list[str]()
    bot = pool.submit(_blocker(gate, log, "bot"))
    while not log:
        time.sleep(0.001)
    bridged = pool.background.submit(_note(log, "bridged"))
    time.sleep(0.2)
    assert log == ["bot start"] and not bridged.done() and pool.background_backlog == 1
    gate.set()
    assert bot.result(timeout=5) == "bot" and bridged.result(timeout=5) == "bridged"
    assert log == ["bot start", "bot end", "bridged"]
