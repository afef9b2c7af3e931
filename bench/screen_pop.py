"""Screen pop time: from the ACD offering a call to the agent's browser showing the pop, next to the agent's ring time.

A real `ivr serve` (1 worker, SQLite) with one agent who is also a console user, logged in on /desk in headless
Chromium (Debian's /usr/bin/chromium through Playwright). Callers enter the queue straight away (a one-step flow);
the agent's phone (an `ivr call --listen` process, one per call) answers and hangs up after --talk seconds, and
wrap-up is short. Times, all wall clock on this machine:
- offer: the 'offered' queue event the control process stores when the ACD picks the agent;
- pop shown: the desk page's clock when it has drawn the pop (window.ivrDesk.shown);
- phone rings: the INVITE reaching the agent's phone (the phone notes the wall time of the incoming call).
Then the same calls with the desk page closed: the phone no longer waits for the desk to show the pop.

    .venv/bin/python bench/screen_pop.py --rounds 10
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

from tests.e2e.harness import IVR, finish_call, free_port, start_call, start_server, wait_listening  # noqa: E402

FLOW = """flow: queue_only
title: Straight to the bench queue
start: to_queue
steps:
  to_queue:
    kind: transfer
    queue: bench
    reason: screen pop benchmark
"""
PASSWORD = "screen-pop-bench-password"


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


def _offers(db: Path) -> dict[str, float]:
    """Epoch time of the (last) 'offered' queue event of each call."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT call_id, at FROM queue_events WHERE kind = 'offered' ORDER BY at, id").fetchall()
    return {cid: datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp() for cid, at in rows}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def _call(srv: Any, port: int, talk: float) -> dict[str, Any]:
    """One caller to the agent's phone; returns the phone's timeline."""
    phone = start_call("", f"{talk} hangup", extra=("--listen", "--port", str(port), "--max-seconds", "30"))
    wait_listening(phone)
    caller = start_call(srv.uri, max_seconds=30)
    timeline = finish_call(phone, timeout=60)
    finish_call(caller, timeout=60)
    return timeline


def main() -> int:
    """Run the benchmark and print a table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=10, help="calls with the desk open, and as many with it closed")
    p.add_argument("--talk", type=float, default=0.5, help="seconds the agent talks before hanging up")
    p.add_argument("--wrap-up", type=float, default=0.5, help="agent wrap-up seconds")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="screen-pop-"))
    flow = work / "queue_only.yaml"
    flow.write_text(FLOW)
    port = free_port()
    env = {"IVR_FLOWS__DEFAULT": str(flow), "IVR_PASSWORD_STDIN": "1"}
    srv = start_server(work / "serve", workers=1, kamailio=False, env=env, extra_toml=_config(port, args.wrap_up))
    made = subprocess.run([*IVR, "users", "add", "a1", "--config", str(srv.root / "config.toml"), "--role", "agent"],
                          input=PASSWORD + "\n", capture_output=True, text=True, cwd=srv.root, env=srv.env,
                          timeout=60)  # fmt: skip
    assert made.returncode == 0, made.stderr
    shown: dict[str, float] = {}
    rang: dict[str, dict[str, float]] = {"open": {}, "closed": {}}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(base_url=f"http://127.0.0.1:{srv.web_port}")
            page.goto("/login?next=/desk")
            page.get_by_label("User name").fill("a1")
            page.get_by_label("Password").fill(PASSWORD)
            with page.expect_navigation():
                page.get_by_role("button", name="Log in").click()
            page.get_by_test_id("desk-status").filter(has_text="live").wait_for()
            for desk in ("open", "closed"):
                if desk == "closed":
                    page.close()
                for i in range(args.rounds):
                    timeline = _call(srv, port, args.talk)
                    incoming = [e for e in timeline["events"] if e["event"] == "incoming"]
                    call_id = timeline["headers"].get("X-IVR-Call-ID", "") if incoming else ""
                    if not call_id:
                        print(f"{desk} {i + 1}: NO CALL", file=sys.stderr, flush=True)
                        continue
                    rang[desk][call_id] = float(incoming[0]["wall"])
                    if desk == "open":
                        deadline = time.monotonic() + 10
                        while time.monotonic() < deadline and call_id not in shown:
                            got = page.evaluate(f"() => window.ivrDesk.shown[{call_id!r}] || 0")
                            if got:
                                shown[call_id] = float(got)
                            else:
                                page.wait_for_timeout(20)
                    print(f"{desk} {i + 1}: {call_id}", file=sys.stderr, flush=True)
                    time.sleep(args.wrap_up + 0.3)
            browser.close()
    finally:
        code = srv.stop()
    offers = _offers(srv.root / "var/ivr.db")

    def since_offer(times: dict[str, float]) -> list[float]:
        return [1000 * (t - offers[cid]) for cid, t in times.items() if cid in offers]

    rows = [
        ("offer -> pop shown on the open desk", since_offer(shown)),
        ("offer -> agent phone rings, desk open", since_offer(rang["open"])),
        ("offer -> agent phone rings, desk closed", since_offer(rang["closed"])),
        ("pop shown -> phone rings (desk open)",
         [1000 * (rang["open"][c] - shown[c]) for c in shown if c in rang["open"]]),
    ]  # fmt: skip
    print(f"\nbench/screen_pop.py --rounds {args.rounds} --talk {args.talk} --wrap-up {args.wrap_up}")
    print(f"nproc={os.cpu_count()}  load average {os.getloadavg()[0]:.1f}  ivr serve exit={code}")
    print(f"| {'path':<42} | {'n':>3} | {'p50 ms':>7} | {'p95 ms':>7} | {'max ms':>7} |")
    print(f"|{'-' * 44}|{'-' * 5}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    for name, values in rows:
        if values:
            p50, p95, top = statistics.median(values), _pct(values, 95), max(values)
            print(f"| {name:<42} | {len(values):>3} | {p50:>7.1f} | {p95:>7.1f} | {top:>7.1f} |")
        else:
            print(f"| {name:<42} |   0 |       - |       - |       - |")
    print(json.dumps({name: sorted(round(v, 1) for v in values) for name, values in rows}), file=sys.stderr)
    return 0 if shown else 1


if __name__ == "__main__":
    sys.exit(main())
