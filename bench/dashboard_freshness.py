"""Dashboard freshness: from a call event to the live floor showing it, with N calls in progress.

A real `ivr serve` (Kamailio, N/2 media workers, the keypad-echo flow) takes N callers that keep pressing keys;
every key is a turn (intent, prompts) the live floor publishes. The callers are `ivr call` processes (--callers
ivr: each a pjsua2 softphone sending audio and RFC 4733 keys, about as heavy as a worker) or one sipp process
placing the same SIP calls and pressing a key by SIP INFO every 3 s (--callers sipp: no caller audio, so on two
cores the callers do not take the CPU the IVR needs). A supervisor's SSE client
(aiohttp, in this process) and, unless --no-browser, the live floor page in Debian's headless Chromium stream
the floor meanwhile. For every record received we take the time from the event (the record's time stamp: when
the control process saw it happen) to its arrival in the client (the SSE client) and to the page showing it
(Chromium: the table re-rendered with it, window.ivrLive.lag). Same machine, same wall clock. Only records
received while all N calls were in progress count toward the "N in progress" rows.

    .venv/bin/python bench/dashboard_freshness.py --calls 50 --hold 60 --callers sipp
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

from tests.e2e.harness import IVR, finish_call, free_port, start_call, start_server  # noqa: E402

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
        self.healthz: list[tuple[float, int]] = []  # (round trip seconds, calls in progress)

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


async def probe(http: aiohttp.ClientSession, stop: asyncio.Event, out: list[tuple[float, int]], active: Any) -> None:
    """GET /healthz twice a second: its round trip is how long the control process's event loop makes anything
    wait, the same loop that publishes records and writes the stream (a control for the freshness numbers)."""
    while not stop.is_set():
        started = time.perf_counter()
        async with http.get("/healthz") as r:
            await r.read()
        out.append((time.perf_counter() - started, len(active())))
        await asyncio.sleep(0.5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def schedstat(pid: int) -> tuple[float, float]:
    """Seconds the process's main thread (the event loop) ran on a CPU, and waited runnable for one."""
    ran, waited, _ = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
    return int(ran) / 1e9, int(waited) / 1e9


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


def sipp_scenario(hold: float) -> str:
    """A sipp UAC that follows Record-Route, presses a key by SIP INFO every 3 s for `hold` s, then hangs up."""
    head = (REPO / "tests/sipp/uac_rr.xml").read_text()
    invite_to_ack = head[: head.index("  <pause/>")]
    info = """  <pause milliseconds="3000"/>
  <send retrans="500">
    <![CDATA[
      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:ivr@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      [routes]
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={digit}
      Duration=160
    ]]>
  </send>
  <recv response="200"/>
"""
    n = max(1, int(hold // 3))
    infos = "".join(info.format(cseq=2 + i, digit="123456789"[i % 9]) for i in range(n))
    bye = head[head.index("  <send retrans=\"500\">", head.index("  <pause/>")):].replace("CSeq: 2 BYE",
                                                                                            f"CSeq: {n + 2} BYE")
    return invite_to_ack + infos + bye


async def run(args: argparse.Namespace, base: str, uri: str) -> tuple[Watcher, dict[str, Any], int]:
    import threading

    http = await login(base)
    watcher, stop = Watcher(), asyncio.Event()
    streaming = asyncio.create_task(watcher.run(http, stop))
    probing = asyncio.create_task(probe(http, stop, watcher.healthz, lambda: watcher.active))
    page: dict[str, Any] = {}
    page_stop, page_ready = threading.Event(), threading.Event()
    page_thread = None
    if args.browser:
        page_thread = threading.Thread(target=browser_lag, args=(base, page_stop, page_ready, page), daemon=True)
        page_thread.start()
        await asyncio.to_thread(page_ready.wait, 60)
    await asyncio.sleep(1.0)
    failed = await (sipp_calls(args, uri) if args.callers == "sipp" else ivr_calls(args, uri))
    await asyncio.sleep(2.0)
    stop.set()
    page_stop.set()
    streaming.cancel()
    await asyncio.gather(streaming, probing, return_exceptions=True)
    await http.close()
    if page_thread is not None:
        await asyncio.to_thread(page_thread.join, 60)
    return watcher, page, failed


async def ivr_calls(args: argparse.Namespace, uri: str) -> int:
    """N `ivr call` processes, ramped so that all are up together; returns how many failed."""
    procs = []
    for i in range(args.calls):
        procs.append(start_call(uri, *keys(args.hold), max_seconds=args.hold + (args.calls - i) / args.rate))
        await asyncio.sleep(1 / args.rate)
    failed = 0
    for p in procs:
        try:
            timeline = await asyncio.to_thread(finish_call, p, args.hold + 120)
            failed += 0 if timeline["answered"] else 1
        except AssertionError:
            failed += 1
    return failed


async def sipp_calls(args: argparse.Namespace, uri: str) -> int:
    """N calls from one sipp process (keys by SIP INFO); returns how many failed."""
    work = Path(tempfile.mkdtemp(prefix="freshness-sipp-"))
    (work / "uac.xml").write_text(sipp_scenario(args.hold))
    host_port = uri.split("@", 1)[1]
    proc = await asyncio.create_subprocess_exec(
        "sipp", host_port, "-sf", str(work / "uac.xml"), "-r", str(args.rate), "-l", str(args.calls),
        "-m", str(args.calls), "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port()), "-nostdin",
        "-trace_stat", "-stf", str(work / "stat.csv"), "-fd", "1", "-timeout", f"{int(args.hold * 2 + 120)}s",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await proc.wait()
    rows = [line.split(";") for line in (work / "stat.csv").read_text().splitlines() if line]
    head, last = rows[0], rows[-1]
    ok = int(last[head.index("SuccessfulCall(C)")])
    return args.calls - ok


def main() -> int:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=50, help="calls in progress at once (default 50)")
    ap.add_argument("--hold", type=float, default=60.0, help="seconds each call lasts (default 60)")
    ap.add_argument("--rate", type=float, default=5.0, help="new calls per second while ramping up (default 5)")
    ap.add_argument("--callers", choices=("ivr", "sipp"), default="ivr", help="ivr call processes, or one sipp")
    ap.add_argument("--no-browser", dest="browser", action="store_false", help="only the SSE client, no Chromium")
    args = ap.parse_args()
    args.browser = args.browser and CHROMIUM.exists()
    root = Path(tempfile.mkdtemp(prefix="dashboard-freshness-"))
    load = os.getloadavg()
    workers = math.ceil(args.calls / 2)  # a worker takes 2 callers (its other 2 legs are for agents)
    srv = start_server(root, workers=workers, env={"IVR_WORKERS__LOG_LEVEL": "1", "IVR_LOG__LEVEL": "WARNING"})
    try:
        env = {**srv.env, "IVR_PASSWORD_STDIN": "1"}
        add = [*IVR, "users", "add", "bench", "--role", "supervisor", "--config", str(root / "config.toml")]
        subprocess.run(add, input=PASSWORD + "\n", text=True, check=True, cwd=root, env=env, capture_output=True)
        cpu0, sched0, t0 = cpu_seconds(srv.proc.pid), schedstat(srv.proc.pid), time.monotonic()
        watcher, page, failed = asyncio.run(run(args, f"http://127.0.0.1:{srv.web_port}", srv.uri))
        seconds = time.monotonic() - t0
        cpu = (cpu_seconds(srv.proc.pid) - cpu0) / seconds
        ran, waited = (b - a for a, b in zip(sched0, schedstat(srv.proc.pid), strict=True))
    finally:
        code = srv.stop()
    full = [lag for lag, _, n in watcher.samples if n >= args.calls]
    print(f"\nbench/dashboard_freshness.py --calls {args.calls} --hold {args.hold:g} --callers {args.callers}"
          f"{'' if args.browser else ' --no-browser'}")  # fmt: skip
    print(f"nproc={os.cpu_count()}  workers={workers}  failed calls={failed}  peak calls in progress={watcher.peak}  "
          f"snapshots={watcher.snapshots}  ivr serve exit={code}  load average before/after: {load[0]:.1f}/"
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    print("\n| client | calls in progress | records | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|")
    rows: list[tuple[str, str, list[float]]] = [
        ("SSE client", f"{args.calls} (all)", full),
        ("SSE client", "any", [lag for lag, _, _ in watcher.samples]),
    ]
    if page.get("samples"):
        rows.append(("Chromium page", f"{args.calls} (all)", [x for x, n in page["samples"] if n >= args.calls]))
        rows.append(("Chromium page", "any", [x for x, _ in page["samples"]]))
    rows.append(("GET /healthz round trip", f"{args.calls} (all)", [x for x, n in watcher.healthz if n >= args.calls]))
    for client, when, lags in rows:
        ms = [1000 * x for x in lags]
        print(f"| {client} | {when} | {len(ms)} | {pct(ms, 50):.1f} | {pct(ms, 95):.1f} | {pct(ms, 99):.1f} "
              f"| {max(ms, default=float('nan')):.1f} |")  # fmt: skip
    print(f"\ncontrol process CPU over the run: {100 * cpu:.0f}% of one core; its event loop thread ran "
          f"{100 * ran / seconds:.0f}% of the time and waited for a CPU while runnable {100 * waited / seconds:.0f}%")
    kinds = Counter(kind for _, kind, n in watcher.samples if n >= args.calls)
    print("\nrecords with all calls in progress, by kind:", ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
    if page:
        print(f"page navigations: {page.get('navigations')} (1 = never reloaded)")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
