"""QA call search latency over a large history, on SQLite and PostgreSQL, by transcript text and by filters.

Seeds N calls (default 100,000) over 60 days through the call path's own write operations (ivr.storage.ops): calls
with outcomes, queues, agents, flow versions and lengths, 3-7 turns each made from the Acme flow's intent examples
and a product vocabulary, intents with slots, and QA reviews of 2% of the calls through QaStore. Then runs each
search RUNS times through QaStore.search_calls (what GET /api/calls runs: one page of 50 plus the capped count) and
prints p50 and p99 per search and backend:

    .venv/bin/python bench/search_latency.py [--calls 100000] [--runs 50] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert, select, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ivr.storage import CallStore, create_db_engine, migrate  # noqa: E402
from ivr.storage.call_search import CallFilter  # noqa: E402
from ivr.storage.models import Call  # noqa: E402
from ivr.storage.ops import WriteOp, apply_ops, when  # noqa: E402
from ivr.storage.pg_server import TemporaryPostgres  # noqa: E402

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
DAYS = 60
QUEUES = ("billing", "sales", "support", "returns")
AGENTS = tuple(f"a{n:02d}" for n in range(1, 41))
PRODUCTS = [f"{a}{b}" for a in ("head", "ear", "key", "lap", "phone", "watch", "cam", "speak", "tab", "charg")
            for b in ("phones", "buds", "board", "top", "case", "band", "era", "er", "let", "ing", "dock", "stand",
                      "light", "mat", "pad", "hub", "cable", "strap", "lens", "grip")]  # fmt: skip
IVR_LINES = ("Thank you for calling Acme. How can I help you today?", "Let me look that up for you.",
             "Your order has shipped and arrives tomorrow.", "I'll put you through to someone who can help.",
             "Is there anything else I can do for you?", "Thanks for calling. Goodbye.")  # fmt: skip


@dataclass(frozen=True)
class Seeded:
    """What the searches can aim at."""

    callers: list[str]
    days: list[datetime]


def _examples() -> dict[str, list[str]]:
    data = yaml.safe_load((REPO / "flows" / "acme_retail.yaml").read_text())
    return {name: list(spec.get("examples", [])) for name, spec in data["intents"].items() if spec.get("examples")}


def _outcome(rng: random.Random) -> tuple[str, str, str]:
    """(status, queue, agent) with a contact centre's usual mix."""
    x = rng.random()
    if x < 0.55:
        return "completed", "", ""
    if x < 0.75:
        return "completed", rng.choice(QUEUES), rng.choice(AGENTS)
    if x < 0.80:
        return "transferred", rng.choice(QUEUES), ""
    if x < 0.90:
        return "abandoned", rng.choice(QUEUES), ""
    if x < 0.95:
        return "voicemail", rng.choice(QUEUES), ""
    return ("interrupted" if x < 0.99 else "failed"), "", ""


def _call(
    n: int, rng: random.Random, intents: dict[str, list[str]], numbers: list[str]
) -> tuple[dict[str, Any], list[WriteOp], list[WriteOp]]:
    """One ended call: its row, its turns and its intents (the turn and intent writes of the call path)."""
    cid = f"call-{n:06d}-{uuid.uuid4().hex[:8]}"
    start = (NOW - timedelta(seconds=rng.uniform(0, DAYS * 86400))).timestamp()
    length = min(1800.0, rng.lognormvariate(4.6, 0.8))
    status, queue, agent = _outcome(rng)
    caller = f"<sip:{rng.choice(numbers)}@10.0.0.1>"
    # The call row as the call path leaves it at hangup (one multi-row insert: the path's per-call updates of
    # answer, queue and end would take most of the seeding time and are not what is measured).
    row = {"id": cid, "caller": caller, "callee": "<sip:ivr@10.0.0.2>", "node": "bench", "worker": "w1",
           "flow_name": "acme_retail", "flow_version": rng.choice((1, 2, 3, 3, 4, 5, 5, 5)), "status": status,
           "started_at": when(start), "answered_at": when(start + 1), "ended_at": when(start + length),
           "hangup_by": "caller", "end_reason": "", "sip_code": 0, "queue": queue, "agent_id": agent}  # fmt: skip
    turns, found = [], []
    at = 0.0
    turns.append(WriteOp("turn", {"uid": uuid.uuid4().hex, "call_id": cid, "speaker": "ivr", "text": IVR_LINES[0],
                                  "start": at, "end": at + 3, "at": start + 1}))  # fmt: skip
    for _ in range(rng.randint(1, 3)):
        at += rng.uniform(3, 12)
        name = rng.choice(list(intents))
        said = rng.choice(intents[name])
        if rng.random() < 0.5:
            said += f" for my {rng.choice(PRODUCTS)}"
        uid = uuid.uuid4().hex
        score = round(rng.uniform(0.3, 0.99), 2)
        turns.append(WriteOp("turn", {"uid": uid, "call_id": cid, "speaker": "caller", "text": said,
                                      "confidence": round(rng.uniform(0.5, 0.99), 2), "start": at, "end": at + 2,
                                      "intent": name, "intent_score": score, "at": start + at}))  # fmt: skip
        slots = {"order_number": str(rng.randint(10000, 99999))} if name == "order_status" else {}
        found.append(WriteOp("intent", {"uid": uuid.uuid4().hex, "call_id": cid, "name": name, "score": score,
                                        "slots": slots, "turn_uid": uid, "step": "main_menu", "source": "speech",
                                        "at": start + at}))  # fmt: skip
        at += rng.uniform(2, 6)
        turns.append(WriteOp("turn", {"uid": uuid.uuid4().hex, "call_id": cid, "speaker": "ivr",
                                      "text": rng.choice(IVR_LINES[1:]), "start": at, "end": at + 3,
                                      "at": start + at}))  # fmt: skip
    return row, turns, found


def seed(url: str, calls: int) -> Seeded:
    """Write `calls` calls straight through the write operations, 2,000 calls per transaction."""
    rng = random.Random(7)
    intents = _examples()
    numbers = [f"+86138{rng.randint(0, 99_999_999):08d}" for _ in range(20_000)]
    migrate(url)
    engine = create_db_engine(url)
    used: set[str] = set()
    t0 = time.perf_counter()
    try:
        for first in range(0, calls, 2000):
            rows: list[dict[str, Any]] = []
            turns: list[WriteOp] = []
            found: list[WriteOp] = []
            for n in range(first, min(calls, first + 2000)):
                row, t, i = _call(n, rng, intents, numbers)
                rows.append(row)
                turns += t
                found += i
                used.add(row["caller"])
            with engine.begin() as conn:
                conn.execute(insert(Call.__table__), rows)  # type: ignore[arg-type]
                apply_ops(conn, turns)
                apply_ops(conn, found)
        if (
            engine.dialect.name == "postgresql"
        ):  # autovacuum's ANALYZE of a live database, not yet run after a bulk load
            with engine.connect() as conn:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    print(f"  seeded {calls} calls in {time.perf_counter() - t0:.0f} s", flush=True)
    days = [NOW - timedelta(days=d) for d in range(1, DAYS)]
    return Seeded(callers=sorted(used), days=days)


def reuse(url: str) -> Seeded:
    """A database seeded by an earlier run (--sqlite-file)."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            callers = sorted(set(conn.scalars(select(Call.caller).limit(20_000))))
    finally:
        engine.dispose()
    return Seeded(callers=callers, days=[NOW - timedelta(days=d) for d in range(1, DAYS)])


async def add_reviews(store: CallStore, share: float) -> None:
    """QA reviews of `share` of the calls, through QaStore (QA-B's scorecards)."""
    if await store.qa.list_reviews(limit=1):
        return  # a reused database has them
    card = await store.qa.create_scorecard("bench", description="", definition={"sections": []}, active=True,
                                           by="bench")  # fmt: skip
    page = await store.qa.search_calls(CallFilter(), limit=int(100_000 * share), offset=0)
    rng = random.Random(3)
    for row in page.rows:
        score = round(rng.uniform(40, 100), 1)
        await store.qa.save_review(row.call_id, card.id, revision=1, reviewer="bench", score=score, raw_score=score,
                                   failed=False, passed=score >= 80, answers=[], comment="")  # fmt: skip


def searches(s: Seeded, rng: random.Random) -> list[tuple[str, Callable[[], CallFilter], int]]:
    """(label, a filter factory varied per run, offset)."""

    def one_day() -> CallFilter:
        day = rng.choice(s.days)
        return CallFilter(since=day, until=day + timedelta(days=1))

    return [
        ("newest 50, no filter", lambda: CallFilter(), 0),
        ("text: rare word (a product)", lambda: CallFilter(text=rng.choice(PRODUCTS)), 0),
        ("text: common word (order)", lambda: CallFilter(text="order"), 0),
        ("text: two words (return + product)", lambda: CallFilter(text=f"return {rng.choice(PRODUCTS)}"), 0),
        ("text: prefix (deliv*)", lambda: CallFilter(text="deliv*"), 0),
        ("date: one day", one_day, 0),
        ("caller: part of a number", lambda: CallFilter(caller=rng.choice(s.callers)[10:18]), 0),
        ("outcome + queue (abandoned, billing)", lambda: CallFilter(outcome="abandoned", queue="billing"), 0),
        ("agent, last 7 days", lambda: CallFilter(agent=rng.choice(AGENTS), since=NOW - timedelta(days=7)), 0),
        ("intent (returns)", lambda: CallFilter(intent="returns"), 0),
        ("duration 300-600 s", lambda: CallFilter(min_duration=300, max_duration=600), 0),
        ("flow version 3", lambda: CallFilter(flow="acme_retail", flow_version=3), 0),
        ("QA score >= 80", lambda: CallFilter(min_score=80), 0),
        ("text + filters (return, transferred, 30 days)",
         lambda: CallFilter(text="return", outcome="transferred", since=NOW - timedelta(days=30)), 0),
        ("sort by length, page 101", lambda: CallFilter(sort="duration"), 5000),
    ]  # fmt: skip


async def measure(url: str, s: Seeded, runs: int, spool: Path) -> dict[str, tuple[float, float, int, bool]]:
    """label -> (p50 ms, p99 ms, matches, more)."""
    store = CallStore(url, spool_dir=spool, node="bench")
    await store.start()
    try:
        await add_reviews(store, 0.02)
        rng = random.Random(11)
        out = {}
        for label, make, offset in searches(s, rng):
            times, total, more = [], 0, False
            await store.qa.search_calls(make(), limit=50, offset=offset)  # warm the page cache once
            for _ in range(runs):
                f = make()
                t = time.perf_counter()
                page = await store.qa.search_calls(f, limit=50, offset=offset)
                times.append((time.perf_counter() - t) * 1000)
                total, more = page.total, page.more
            times.sort()
            out[label] = (statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))], total, more)
            print(f"    {label:48s} p50 {out[label][0]:7.1f} ms  p99 {out[label][1]:7.1f} ms", flush=True)
        return out
    finally:
        await store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--sqlite-file", default="", help="keep the seeded SQLite file here and reuse it next time")
    args = ap.parse_args()
    results: dict[str, dict[str, tuple[float, float, int, bool]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            print(f"{backend}:", flush=True)
            if backend == "sqlite":
                kept = Path(args.sqlite_file) if args.sqlite_file else None
                url = f"sqlite:///{kept or Path(tmp) / 'search.db'}"
                seeded = reuse(url) if kept and kept.exists() else seed(url, args.calls)
                results[backend] = asyncio.run(measure(url, seeded, args.runs, Path(tmp) / "spool"))
            else:
                with TemporaryPostgres() as pg:
                    url = pg.create_database("search")
                    seeded = seed(url, args.calls)
                    results[backend] = asyncio.run(measure(url, seeded, args.runs, Path(tmp) / "spool-pg"))
    backends = list(results)
    print(f"\nSearch latency over {args.calls:,} calls, {args.runs} runs each (page of 50 + count capped at 10,000):")
    head = "| search | " + " | ".join(f"{b} p50 ms | {b} p99 ms" for b in backends) + " | matches |"
    print(head)
    print("|" + "---|" * (2 + 2 * len(backends)))
    for label in results[backends[0]]:
        cells = " | ".join(f"{results[b][label][0]:.1f} | {results[b][label][1]:.1f}" for b in backends)
        _, _, total, more = results[backends[0]][label]
        print(f"| {label} | {cells} | {total:,}{'+' if more else ''} |")


if __name__ == "__main__":
    main()
