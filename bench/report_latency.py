"""How long each report takes over a large history: the figures behind /api/reports/NAME, on SQLite and PostgreSQL.

Seeds N calls over 60 days as bench/search_latency.py does (outcomes, queues, agents, flow versions, turns, intents,
QA reviews of 2 % of the calls), then runs each report RUNS times for the last 7, 30 and 60 days through
QaStore.report (what the report routes run) and prints p50 and p99:

    .venv/bin/python bench/report_latency.py [--calls 100000] [--runs 10] [--backends sqlite,postgresql]
        [--sqlite-file PATH]   (keeps the seeded SQLite file; search_latency.py --sqlite-file makes the same one)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.search_latency import NOW, add_reviews, reuse, seed  # noqa: E402
from ivr.storage import CallStore  # noqa: E402
from ivr.storage.pg_server import TemporaryPostgres  # noqa: E402

REPORTS: list[tuple[str, dict[str, Any]]] = [
    ("volume", {}), ("containment", {}), ("intents", {}), ("queues", {}), ("queues", {"by_day": True}),
    ("qa_scores", {"group": "agent"}), ("qa_scores", {"group": "flow_version", "period": "week"}), ("latency", {}),
]  # fmt: skip
PERIODS = (7, 30, 60)


async def measure(url: str, runs: int, spool: Path) -> dict[str, tuple[float, float]]:
    """p50 and p99 milliseconds per report and period."""
    store = CallStore(url, spool_dir=spool, node="bench")
    await store.start()
    out: dict[str, tuple[float, float]] = {}
    try:
        await add_reviews(store, 0.02)
        until = NOW.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        for name, params in REPORTS:
            for days in PERIODS:
                times = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    await store.qa.report(name, since=until - timedelta(days=days), until=until, **params)
                    times.append((time.perf_counter() - t0) * 1000)
                label = f"{name}{' ' + ','.join(f'{k}={v}' for k, v in params.items()) if params else ''}, {days} days"
                times.sort()
                out[label] = (statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))])
                print(f"  {label}: p50 {out[label][0]:.0f} ms", flush=True)
    finally:
        await store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--sqlite-file", default="", help="keep the seeded SQLite file here and reuse it next time")
    args = ap.parse_args()
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            print(f"{backend}:", flush=True)
            if backend == "sqlite":
                kept = Path(args.sqlite_file) if args.sqlite_file else None
                url = f"sqlite:///{kept or Path(tmp) / 'reports.db'}"
                if not (kept and kept.exists()):
                    seed(url, args.calls)
                else:
                    reuse(url)
                results[backend] = asyncio.run(measure(url, args.runs, Path(tmp) / "spool"))
            else:
                with TemporaryPostgres() as pg:
                    url = pg.create_database("reports")
                    seed(url, args.calls)
                    results[backend] = asyncio.run(measure(url, args.runs, Path(tmp) / "spool-pg"))
    backends = list(results)
    print(f"\nReport latency over {args.calls:,} calls in 60 days, {args.runs} runs each:")
    print("| report, period | " + " | ".join(f"{b} p50 ms | {b} p99 ms" for b in backends) + " |")
    print("|" + "---|" * (1 + 2 * len(backends)))
    for label in results[backends[0]]:
        print(f"| {label} | " + " | ".join(f"{results[b][label][0]:.0f} | {results[b][label][1]:.0f}"
                                            for b in backends) + " |")  # fmt: skip


if __name__ == "__main__":
    main()
