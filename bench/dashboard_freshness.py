"""Dashboard freshness: from a call event to the live floor showing it, with N calls in progress.

A real `ivr serve` (Kamailio, N/2 media workers, the keypad-echo flow) takes N `ivr call` callers that keep
pressing keys; every key is a turn (intent, step, prompt) the live floor publishes. A supervisor's SSE client
(aiohttp, in this process) and, unless --no-browser, the live floor page in Debian's headless Chromium stream
the floor meanwhile. For every record received we take the time from the event (the record's time stamp: when
the control process saw it happen) to its arrival in the client (the SSE client) and to the page showing it
(Chromium: the table re-rendered with it, window.ivrLive.lag). Same machine, same wall clock. Only records
received while all N calls were in progress count toward the "N in progress" rows.

    .venv/bin/python bench/dashboard_freshness.py --calls 50 --hold 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.harness import IVR, finish_call, start_call, start_server  # noqa: E402

PASSWORD = "bench password 123"
CHROMIUM = Path("/usr/bin/chromium")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (nan when empty)."""
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))]


async def login(base: str) -> aiohttp.ClientSession:
    """A session logged in as the bench supervisor (the cookie is Secure: 127.0.0.1 is a secure origin)."""
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[base])
    http = aiohttp.ClientSession(base, cookie_jar=jar)
    csrf = (await (await http.get("/api/session")).json())["csrf"]
    r = await http.post("/api/session", json={"username": "bench", "password": PASSWORD},
                        headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert r.status == 200, await r.text()
    return http


class Watcher:
    """Streams /api/live/stream and notes, per record, the lag and how many calls were in progress."""

    def __init__(self) -> None:
        self.active: set[str] = set()
        self.samples: list[tuple[float, str, int]] = []  # (lag seconds, kind, calls in progress)
        self.snapshots = 0
        self.peak = 0

    async def run(self, http: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():  # the server renews a stream every [live] stream_minutes: follow it
            async with http.get("/api/live/stream", timeout=aiohttp.ClientTimeout(total=None)) as resp:
                event, data = "", ""
                async for raw in resp.content:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        data = line[6:]
                    elif line == "" and event:
                        self._take(event, data, time.time())
                        event, data = "", ""
                    if stop.is_set():
                        return

    def _take(self, event: str, data: str, received: float) -> None:
        if event == "snapshot":
            self.snapshots += 1
            self.active = {c["call_id"] for c in json.loads(data)["calls"]}
            return
        if event != "records":
            return
        for r in json.loads(data):
            if r["kind"] == "call_offered":
                self.active.add(r["call_id"])
            elif r["kind"] in ("hangup", "call_ended"):
                self.active.discard(r["call_id"])
            self.peak = max(self.peak, len(self.active))
            self.samples.append((received - r["t"], r["kind"], len(self.active)))


def browser_lag(base: str, stop: Any, ready: Any, out: dict[str, Any]) -> None:
    """The live floor page in headless Chromium until `stop`; its per-record lag and load count into `out`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = b.new_page(base_url=base, viewport={"width": 1400, "height": 900})
        page.goto("/login?next=/live")
        page.get_by_label("User name").fill("bench")
        page.get_by_label("Password").fill(PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()
        page.get_by_test_id("live-status").filter(has_text="live").wait_for(timeout=30_000)
        ready.set()
        samples: list[tuple[float, int]] = []
        while not stop.is_set():
            page.wait_for_timeout(500)
            lag, calls = page.evaluate("() => [window.ivrLive.lag.splice(0), window.ivrLive.floor().calls.length]")
            samples += [(x, calls) for x in lag]
        out["samples"] = samples
        out["navigations"] = page.evaluate("() => performance.getEntriesByType('navigation').length")
        b.close()


def keys(hold: float) -> list[str]:
    """A key each time the IVR has read the last one back, for about `hold` seconds (the keypad-echo flow)."""
    return [f"quiet dtmf {d}" for d in "123456789" * max(1, int(hold // 3))]


async def run(args: argparse.Namespace, base: str, uri: str) -> tuple[Watcher, dict[str, Any], int]:
    import threading

    http = await login(base)
    watcher, stop = Watcher(), asyncio.Event()
    streaming = asyncio.create_task(watcher.run(http, stop))
    page: dict[str, Any] = {}
    page_stop, page_ready = threading.Event(), threading.Event()
    page_thread = None
    if args.browser:
        page_thread = threading.Thread(target=browser_lag, args=(base, page_stop, page_ready, page), daemon=True)
        page_thread.start()
        await asyncio.to_thread(page_ready.wait, 60)
    await asyncio.sleep(1.0)
    procs = []
    for i in range(args.calls):  # ramped; every call ends at about the same time
        procs.append(start_call(uri, *keys(args.hold), max_seconds=args.hold + (args.calls - i) / args.rate))
        await asyncio.sleep(1 / args.rate)
    failed = 0
    for p in procs:
        try:
            timeline = await asyncio.to_thread(finish_call, p, args.hold + 120)
            failed += 0 if timeline["answered"] else 1
        except AssertionError:
            failed += 1
    await asyncio.sleep(2.0)
    stop.set()
    page_stop.set()
    streaming.cancel()
    await asyncio.gather(streaming, return_exceptions=True)
    await http.close()
    if page_thread is not None:
        await asyncio.to_thread(page_thread.join, 60)
    return watcher, page, failed


def main() -> int:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=50, help="calls in progress at once (default 50)")
    ap.add_argument("--hold", type=float, default=60.0, help="seconds each call lasts (default 60)")
    ap.add_argument("--rate", type=float, default=5.0, help="new calls per second while ramping up (default 5)")
    ap.add_argument("--no-browser", dest="browser", action="store_false", help="only the SSE client, no Chromium")
    args = ap.parse_args()
    args.browser = args.browser and CHROMIUM.exists()
    root = Path(tempfile.mkdtemp(prefix="dashboard-freshness-"))
    workers = math.ceil(args.calls / 2)  # a worker takes 2 callers (its other 2 legs are for agents)
    srv = start_server(root, workers=workers, env={"IVR_WORKERS__LOG_LEVEL": "1", "IVR_LOG__LEVEL": "WARNING"})
    try:
        env = {**srv.env, "IVR_PASSWORD_STDIN": "1"}
        add = [*IVR, "users", "add", "bench", "--role", "supervisor", "--config", str(root / "config.toml")]
        subprocess.run(add, input=PASSWORD + "\n", text=True, check=True, cwd=root, env=env, capture_output=True)
        watcher, page, failed = asyncio.run(run(args, f"http://127.0.0.1:{srv.web_port}", srv.uri))
    finally:
        code = srv.stop()
    full = [lag for lag, _, n in watcher.samples if n >= args.calls]
    print(f"\nbench/dashboard_freshness.py --calls {args.calls} --hold {args.hold:g}"
          f"{'' if args.browser else ' --no-browser'}")  # fmt: skip
    print(f"nproc={os.cpu_count()}  workers={workers}  failed calls={failed}  peak calls in progress={watcher.peak}  "
          f"snapshots={watcher.snapshots}  ivr serve exit={code}")  # fmt: skip
    print("\n| client | calls in progress | records | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|")
    rows: list[tuple[str, str, list[float]]] = [
        ("SSE client", f"{args.calls} (all)", full),
        ("SSE client", "any", [lag for lag, _, _ in watcher.samples]),
    ]
    if page.get("samples"):
        rows.append(("Chromium page", f"{args.calls} (all)", [x for x, n in page["samples"] if n >= args.calls]))
        rows.append(("Chromium page", "any", [x for x, _ in page["samples"]]))
    for client, when, lags in rows:
        ms = [1000 * x for x in lags]
        print(f"| {client} | {when} | {len(ms)} | {pct(ms, 50):.1f} | {pct(ms, 95):.1f} | {pct(ms, 99):.1f} "
              f"| {max(ms, default=float('nan')):.1f} |")  # fmt: skip
    kinds = Counter(kind for _, kind, n in watcher.samples if n >= args.calls)
    print("\nrecords with all calls in progress, by kind:", ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
    if page:
        print(f"page navigations: {page.get('navigations')} (1 = never reloaded)")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
