"""Storage and recording throughput: DB writes at 50 concurrent calls, recording CPU per call.

Usage: python bench/storage_throughput.py [--calls 50] [--turns 40] [--rec-calls 50] [--rec-seconds 60]
Starts its own PostgreSQL (durable settings: fsync on) next to a SQLite WAL file.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ivr.core.events import AudioChunk
from ivr.storage import CallStore
from ivr.storage.pg_server import TemporaryPostgres
from recordings import CallRecorder, parse_key


async def _call(store: CallStore, n: int, turns: int, submit_us: list[float]) -> None:
    call_id = f"bench-{n}"

    def timed(fn: object, *args: object, **kw: object) -> None:
        t = time.perf_counter()
        fn(*args, **kw)  # type: ignore[operator]
        submit_us.append((time.perf_counter() - t) * 1e6)

    timed(store.call_started, call_id, caller=f"+1555{n:07d}", flow_name="acme", flow_version=1)
    timed(store.call_answered, call_id)
    timed(store.add_queue_event, "enqueued", call_id=call_id, queue="sales")
    for i in range(turns):
        speaker = "caller" if i % 2 else "ivr"
        timed(
            store.add_turn,
            call_id,
            speaker,
            f"turn {i} about my order number {n * 100 + i} and a refund",
            confidence=0.9,
            start=i * 3.0,
            end=i * 3.0 + 2.5,
        )
        if i % 4 == 1:
            timed(store.add_intent, call_id, "order_status", 0.87, slots={"order": str(n * 100 + i)})
        if i % 10 == 0:
            await asyncio.sleep(0)  # let the other calls interleave, as live calls would
    timed(store.add_queue_event, "answered", call_id=call_id, queue="sales", agent_id="a1", wait_seconds=4.0)
    timed(store.call_ended, call_id, "completed", hangup_by="caller")


async def db_throughput(url: str, spool: Path, calls: int, turns: int) -> dict[str, float]:
    """Writes per second committed by one CallStore fed by `calls` concurrent call tasks."""
    store = CallStore(url, spool_dir=spool, node="bench")
    await store.start()
    submit_us: list[float] = []
    t0 = time.perf_counter()
    await asyncio.gather(*(_call(store, n, turns, submit_us) for n in range(calls)))
    t_submitted = time.perf_counter()
    assert await store.flush(600)
    elapsed = time.perf_counter() - t0
    await store.close()
    writes = len(submit_us)
    submit_us.sort()
    return {
        "writes": writes,
        "seconds": elapsed,
        "writes_per_s": writes / elapsed,
        "submit_p50_us": statistics.median(submit_us),
        "submit_p99_us": submit_us[int(0.99 * (writes - 1))],
        "submit_s": t_submitted - t0,
    }


def recording_cpu(directory: Path, calls: int, seconds: int, key: bytes | None) -> dict[str, float]:
    """CPU seconds spent per call per second of audio, writing 20 ms frames of both directions."""
    rate, frame = 16000, 320
    rng = np.random.default_rng(1)
    pcm_in = (rng.normal(0, 3000, frame)).astype("<i2").tobytes()
    pcm_out = (rng.normal(0, 3000, frame)).astype("<i2").tobytes()
    recs = [CallRecorder(directory / f"r{n}.wav", f"r{n}", rate=rate, key=key, origin=0.0) for n in range(calls)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(seconds * 50):
        at = i * 0.02
        for rec in recs:
            rec.write(AudioChunk("x", pcm=pcm_in, rate=rate, direction="in", at=at))
            rec.write(AudioChunk("x", pcm=pcm_out, rate=rate, direction="out", at=at))
    infos = [rec.close() for rec in recs]  # includes the SHA-256 of each file
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    assert all(info.status == "complete" for info in infos)
    return {
        "calls": calls,
        "audio_s": seconds,
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_pct_per_call": 100 * cpu / (calls * seconds),
        "mb_per_call_min": sum(info.size_bytes for info in infos) / calls / (seconds / 60) / 1e6,
    }


def main() -> None:
    """Run both benchmarks and print a table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--turns", type=int, default=40)
    ap.add_argument("--rec-calls", type=int, default=50)
    ap.add_argument("--rec-seconds", type=int, default=60)
    args = ap.parse_args()
    print(f"nproc={os.cpu_count()}  calls={args.calls} turns/call={args.turns}")
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as tmp:
        base = Path(tmp)
        results = {
            "sqlite (WAL, synchronous=NORMAL)": asyncio.run(
                db_throughput(f"sqlite:///{base / 'bench.db'}", base / "spool-sqlite", args.calls, args.turns)
            )
        }
        with TemporaryPostgres(durable=True) as pg:
            url = pg.create_database("bench")
            results["postgresql 15 (fsync on)"] = asyncio.run(
                db_throughput(url, base / "spool-pg", args.calls, args.turns)
            )
        print(f"\n{'database':34} {'writes':>7} {'seconds':>8} {'writes/s':>9} {'submit p50':>11} {'submit p99':>11}")
        for name, r in results.items():
            print(
                f"{name:34} {r['writes']:7.0f} {r['seconds']:8.2f} {r['writes_per_s']:9.0f} "
                f"{r['submit_p50_us']:9.1f}µs {r['submit_p99_us']:9.1f}µs"
            )
        key = parse_key(base64.b64encode(os.urandom(32)).decode())
        print(
            f"\n{'recording (16 kHz stereo WAV)':34} {'calls':>7} {'audio s':>8} {'CPU s':>9} "
            f"{'CPU %/call':>11} {'MB/call-min':>11}"
        )
        for name, k in (("plain WAV", None), ("AES-256-GCM encrypted", key)):
            d = base / name.split()[0]
            d.mkdir()
            r = recording_cpu(d, args.rec_calls, args.rec_seconds, k)
            print(
                f"{name:34} {r['calls']:7.0f} {r['audio_s']:8.0f} {r['cpu_s']:9.2f} "
                f"{r['cpu_pct_per_call']:10.3f}% {r['mb_per_call_min']:11.2f}"
            )


if __name__ == "__main__":
    main()
