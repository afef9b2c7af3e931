"""TTS latency: cache-hit time to first frame, uncached time to first audio, real-time factor.

Run: /work/venv/bin/python bench/tts_latency.py [--hits 500] [--replies 100] [--workers process,thread]
Prints one table per engine worker kind (child process or in-process thread).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from pathlib import Path

from ivr.core.config import TtsConfig
from tts.cache import PromptCache
from tts.cached import CachedSynthesizer

GREETING = "Thank you for calling Acme. Press any key and I will read it back to you."
PARAGRAPH = (
    "Thank you for calling Acme customer service. Your order shipped on November 20 and should "
    "arrive within three business days. If you would like to speak to an agent, press zero at any "
    "time. To hear your recent orders, press one. For billing questions, press two. To repeat this "
    "menu, press nine. Thank you for your patience."
)


def pct(values: list[float], q: float) -> float:
    """The q-th percentile, in milliseconds."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def timed(n: int, fn: Callable[[int], Awaitable[None]]) -> list[float]:
    """Durations of n awaited calls of fn(i)."""
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await fn(i)
        out.append(time.perf_counter() - t0)
    return out


async def loop_lateness(work: Awaitable[object]) -> list[float]:
    """How late (s) each tick of a 5 ms ticker on the event loop was while `work` ran."""
    late: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            late.append(time.perf_counter() - t - 0.005)

    tick = asyncio.create_task(ticker())
    await work
    done = True
    await tick
    return late


async def bench(worker: str, hits: int, replies: int, rate: int) -> list[tuple[str, str]]:
    """Rows of (metric, value) for one worker kind at one call rate."""
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        voice = await CachedSynthesizer.open(TtsConfig(), Path(tmp), worker=worker)  # type: ignore[arg-type]
        rows.append(("engine start (s)", f"{time.perf_counter() - t0:.2f}"))
        await voice.say(GREETING, rate)

        async def memory_hit(_i: int) -> None:
            await voice.say(GREETING, rate)

        async def disk_hit(_i: int) -> None:
            # A cache with no memory tier: every hit reads and checks the WAV file.
            cold = PromptCache(Path(tmp), voice.engine, memory_bytes=0)
            await cold.get_or_synthesize(GREETING, rate)
            cold.close()

        mem = await timed(hits, memory_hit)
        disk = await timed(hits, disk_hit)
        rows.append(
            (f"cache hit, memory: first frame p50/p99 (ms, n={hits})", f"{pct(mem, 50):.3f} / {pct(mem, 99):.3f}")
        )
        rows.append(
            (f"cache hit, disk: first frame p50/p99 (ms, n={hits})", f"{pct(disk, 50):.2f} / {pct(disk, 99):.2f}")
        )

        async def reply(i: int) -> None:
            # Dynamic one-sentence reply: never cached, so every one goes to the engine.
            text = f"Your order {1000 + i} shipped on November {1 + i % 28}."
            async with aclosing(voice.stream(text, rate)) as blocks:
                async for _block in blocks:
                    break  # first audio is what the caller waits for

        first = await timed(replies, reply)
        rows.append(
            (f"uncached reply: first audio p50/p99 (ms, n={replies})", f"{pct(first, 50):.1f} / {pct(first, 99):.1f}")
        )

        engine = voice.engine
        rtfs: list[float] = []
        late: list[float] = []
        for _ in range(5):
            t0 = time.perf_counter()
            synth = asyncio.ensure_future(engine.synthesize(PARAGRAPH, rate))
            late += await loop_lateness(synth)
            pcm = synth.result()
            rtfs.append((time.perf_counter() - t0) / (len(pcm) / 2 / rate))
        audio_s = len(pcm) / 2 / rate
        # The same ticker with nothing else running: what the machine itself adds (other load, scheduler).
        idle = await loop_lateness(asyncio.sleep(sum(rtfs) * audio_s))
        rows.append((f"real-time factor, {audio_s:.0f} s paragraph (median of 5)", f"{statistics.median(rtfs):.3f}"))
        rows.append(
            (
                f"event-loop tick lateness during synthesis p50/p99/max (ms, n={len(late)})",
                f"{pct(late, 50):.2f} / {pct(late, 99):.2f} / {1000 * max(late):.1f}",
            )
        )
        rows.append(
            (
                f"event-loop tick lateness, idle baseline p50/p99/max (ms, n={len(idle)})",
                f"{pct(idle, 50):.2f} / {pct(idle, 99):.2f} / {1000 * max(idle):.1f}",
            )
        )
        await voice.aclose()
    return rows


async def main() -> None:
    """Parse arguments and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=500, help="cache-hit samples")
    parser.add_argument("--replies", type=int, default=100, help="uncached reply samples")
    parser.add_argument("--workers", default="process,thread", help="engine workers to compare")
    parser.add_argument("--rates", default="8000,16000", help="call sample rates")
    args = parser.parse_args()
    for worker in args.workers.split(","):
        for rate in (int(r) for r in args.rates.split(",")):
            rows = await bench(worker, args.hits, args.replies, rate)
            width = max(len(name) for name, _ in rows)
            print(f"\n== pyttsx3/espeak-ng, worker={worker}, {rate} Hz ==")
            for name, value in rows:
                print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    asyncio.run(main())
