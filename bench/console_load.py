"""The console's API under load while calls are in progress, and what that load does to the calls' turns.

A real `ivr serve` (the Acme flow, N/2 workers) takes N `ivr call` callers that keep pressing 3 (store
hours) at the menu, each turn timed from the caller's key to the first audio of the answer. The same
calls run twice: once with the console idle, once while C concurrent clients, logged in as a
supervisor, fetch the flows list (`/api/flows`) and the flow's graph (`/api/flows/acme_retail/graph`)
as fast as the server answers. Prints requests/s and p50/p99 per route, and turn latency both ways:

    .venv/bin/python bench/console_load.py --calls 20 --clients 8 --seconds 40
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.harness import IVR, events, finish_call, start_call, start_server  # noqa: E402

PASSWORD = "bench password 123"
ROUTES = ("/api/flows", "/api/flows/acme_retail/graph")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))]


def caller_steps(turns: int) -> list[str]:
    """Wait for the menu, then press 3 (store hours) after each answer, `turns` times."""
    return [step for _ in range(turns) for step in ("quiet dtmf 3",)] + ["quiet hangup"]


def turn_latencies(timeline: dict[str, object]) -> list[float]:
    """ms from each key the caller sent to the first audio it heard after it."""
    starts = [e["t"] for e in events(timeline, "prompt_start")]  # type: ignore[arg-type]
    out = []
    for sent in events(timeline, "dtmf_sent"):  # type: ignore[arg-type]
        after = [t for t in starts if t > sent["t"]]
        if after:
            out.append((after[0] - sent["t"]) * 1000)
    return out


def run_calls(uri: str, calls: int, turns: int) -> tuple[list[float], int]:
    procs = []
    for _ in range(calls):
        procs.append(start_call(uri, *caller_steps(turns), max_seconds=40 + 12 * turns))
        time.sleep(0.1)
    latencies: list[float] = []
    failed = 0
    for p in procs:
        try:
            latencies += turn_latencies(finish_call(p, timeout=120 + 12 * turns))
        except AssertionError:
            failed += 1
    return latencies, failed


async def api_load(base: str, clients: int, stop: asyncio.Event) -> dict[str, list[float]]:
    """Each client logs in, then fetches the routes in turn until `stop`; returns ms per route."""
    times: dict[str, list[float]] = {r: [] for r in ROUTES}
    errors = 0

    async def client() -> None:
        nonlocal errors
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[base])
        async with aiohttp.ClientSession(base, cookie_jar=jar) as http:
            csrf = (await (await http.get("/api/session")).json())["csrf"]
            r = await http.post("/api/session", json={"username": "bench", "password": PASSWORD},
                                headers={"X-CSRF-Token": csrf})  # fmt: skip
            assert r.status == 200, await r.text()
            i = 0
            while not stop.is_set():
                route = ROUTES[i % len(ROUTES)]
                i += 1
                t0 = time.perf_counter()
                async with http.get(route) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                        continue
                times[route].append((time.perf_counter() - t0) * 1000)

    await asyncio.gather(*(client() for _ in range(clients)))
    if errors:
        print(f"  {errors} API error(s)", file=sys.stderr)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--turns", type=int, default=4, help="key presses per call")
    ap.add_argument("--clients", type=int, default=8, help="concurrent API clients")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="console-load-"))
    srv = start_server(root, workers=math.ceil(args.calls / 2), env={
        "IVR_FLOWS__DEFAULT": str(REPO / "flows/acme_retail.yaml"), "IVR_WORKERS__LOG_LEVEL": "1",
    })  # fmt: skip
    try:
        env = {**srv.env, "IVR_PASSWORD_STDIN": "1"}
        add = [*IVR, "users", "add", "bench", "--role", "supervisor", "--config", str(root / "config.toml")]
        subprocess.run(add, input=PASSWORD + "\n", text=True, check=True, cwd=root, env=env, capture_output=True)
        base = f"http://127.0.0.1:{srv.web_port}"
        idle, idle_failed = run_calls(srv.uri, args.calls, args.turns)

        async def loaded() -> tuple[list[float], int, dict[str, list[float]], float]:
            stop = asyncio.Event()
            started = time.perf_counter()
            load = asyncio.create_task(api_load(base, args.clients, stop))
            await asyncio.sleep(1.0)  # clients logged in and busy before the calls start
            lat, failed = await asyncio.to_thread(run_calls, srv.uri, args.calls, args.turns)
            stop.set()
            times = await load
            return lat, failed, times, time.perf_counter() - started

        busy, busy_failed, times, seconds = asyncio.run(loaded())
    finally:
        srv.stop()
    print(f"nproc {os.cpu_count()}; {args.calls} calls x {args.turns} keypad turns; {args.clients} API clients\n")
    print("| route | requests | requests/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for route, t in times.items():
        print(f"| `{route}` | {len(t)} | {len(t) / seconds:.0f} | {pct(t, 50):.1f} | {pct(t, 99):.1f} |")
    print("\n| console | turns | failed calls | key -> answer audio p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    for name, lat, failed in (("idle", idle, idle_failed), ("under API load", busy, busy_failed)):
        print(f"| {name} | {len(lat)} | {failed} | {pct(lat, 50):.0f} | {pct(lat, 95):.0f} | {pct(lat, 99):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
