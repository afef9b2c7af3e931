"""Time from an agent becoming free to the agent's phone ringing, through a real `ivr serve`.

One agent (an `ivr call --listen` phone, restarted for every call) serves a queue that callers
enter straight away (a one-step flow). The agent talks for --talk seconds and then has
--wrap-up seconds of wrap-up, while other callers keep waiting. Each time wrap-up ends the ACD
offers the next caller; we measure from that moment (the 'available' agent_state event the
control process stores, epoch time) to the INVITE reaching the phone (the phone notes the
wall-clock time of the incoming call). The first call of a run has a free agent when the
caller arrives, and is reported separately (enqueued -> ringing).

    /work/venv/bin/python bench/agent_ring.py --rounds 20
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.harness import finish_call, free_port, start_call, start_server, wait_listening  # noqa: E402

FLOW = """flow: queue_only
title: Straight to the bench queue
start: to_queue
steps:
  to_queue:
    kind: transfer
    queue: bench
    reason: agent ring benchmark
"""


def _config(port: int, wrap_up: float) -> str:
    return f"""
[[queues]]
name = "bench"
ring_timeout = 10
announce_interval = 0
max_wait = 0
overflow = ""
wrap_up = {wrap_up}
no_answer = "available"

[[agents]]
id = "a1"
name = "Agent One"
sip_uri = "sip:a1@127.0.0.1:{port}"
queues = ["bench"]
"""


def _epoch(text: str) -> float:
    """SQLite keeps naive UTC text."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _events(db: Path) -> list[tuple[float, str, str]]:
    """(epoch, kind, detail) of every queue event, oldest first."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT at, kind, detail FROM queue_events ORDER BY at, id").fetchall()
    return [(_epoch(at), kind, detail or "") for at, kind, detail in rows]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> int:
    """Run the benchmark and print a table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=20, help="agent-free -> ringing samples to take (default 20)")
    p.add_argument("--callers", type=int, default=3, help="callers kept waiting in the queue (default 3, max 3)")
    p.add_argument("--talk", type=float, default=0.3, help="seconds the agent talks before hanging up")
    p.add_argument("--wrap-up", type=float, default=3.0, help="agent wrap-up seconds (the next phone starts meanwhile)")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="agent-ring-"))
    flow = work / "queue_only.yaml"
    flow.write_text(FLOW)
    port = free_port()
    srv = start_server(work / "serve", env={"IVR_FLOWS__DEFAULT": str(flow)}, extra_toml=_config(port, args.wrap_up))
    rings: list[float] = []  # wall time each phone saw the INVITE
    callers: list[subprocess.Popen[bytes]] = []
    started = time.time()
    try:
        phones = 0
        while phones < args.rounds + 1:
            listen = ("--listen", "--port", str(port), "--max-seconds", "60")
            phone = start_call("", f"{args.talk} hangup", extra=listen)
            wait_listening(phone)
            phones += 1
            callers = [c for c in callers if c.poll() is None]
            while len(callers) < min(args.callers, 3):  # 2 workers x 2 callers; one slot spare
                callers.append(start_call(srv.uri, max_seconds=120))
            timeline = finish_call(phone, timeout=90)
            incoming = [e for e in timeline["events"] if e["event"] == "incoming"]
            if incoming:
                rings.append(float(incoming[0]["wall"]))
            print(f"call {phones}: {'rang' if incoming else 'NO CALL'}", file=sys.stderr, flush=True)
    finally:
        for c in callers:
            c.terminate()
        for c in callers:
            c.wait(30)
        code = srv.stop()
    events = [e for e in _events(srv.root / "var/ivr.db") if e[0] >= started - 1]
    free_to_ring: list[float] = []
    queued_to_ring: list[float] = []
    for ring in rings:
        # The ACD stores one batch per decision: [enqueued | agent_state available], agent_state
        # ringing, offered. What came just before the 'ringing' says why the phone rang.
        offers = [i for i, e in enumerate(events) if e[1] == "offered" and e[0] <= ring]
        if not offers or ring - events[offers[-1]][0] > 2:
            continue  # this phone's call was not offered by a fresh decision (should not happen)
        trigger = events[offers[-1] - 2] if offers[-1] >= 2 else None
        if trigger is None or events[offers[-1] - 1][2] != "ringing":
            continue
        if trigger[1] == "agent_state" and trigger[2] == "available":
            free_to_ring.append(1000 * (ring - trigger[0]))
        elif trigger[1] == "enqueued":
            queued_to_ring.append(1000 * (ring - trigger[0]))

    rows: list[tuple[str, list[float]]] = [
        ("agent free (wrap-up ends) -> phone rings", free_to_ring),
        ("caller queued, agent free -> phone rings", queued_to_ring),
    ]
    print(f"\nbench/agent_ring.py --rounds {args.rounds} --callers {args.callers} --wrap-up {args.wrap_up}")
    print(f"nproc={os.cpu_count()}  ivr serve exit={code}")
    print(f"| {'path':<42} | {'n':>3} | {'p50 ms':>7} | {'p95 ms':>7} | {'max ms':>7} |")
    print(f"|{'-' * 44}|{'-' * 5}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    for name, values in rows:
        if values:
            p50, p95, top = statistics.median(values), _pct(values, 95), max(values)
            print(f"| {name:<42} | {len(values):>3} | {p50:>7.1f} | {p95:>7.1f} | {top:>7.1f} |")
        else:
            print(f"| {name:<42} |   0 |       - |       - |       - |")
    summary: dict[str, Any] = {name: sorted(round(v, 1) for v in values) for name, values in rows}
    print(json.dumps(summary), file=sys.stderr)
    return 0 if free_to_ring else 1


if __name__ == "__main__":
    sys.exit(main())
