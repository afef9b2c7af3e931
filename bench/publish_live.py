"""Publish to live on a running `ivr serve` with the demo flow: how soon do new calls get a new version?

Each round changes the Acme greeting (new text, so the pre-warm must synthesize it) and publishes it:
  cli    `ivr flows publish`: validates, runs the flow's test cases, stores (a supervisor with flows in git);
  store  a direct ConsoleStore.store_version from another process (a console in another control process).
The server notices the new live revision by its 0.5 s poll, loads the version (trains the intent classifier),
pre-warms its prompts and only then logs "flow acme_retail version N live". Meanwhile a caller places short
calls back to back; the first call offered with version N ends the round. Times come from the server log
(millisecond timestamps, same clock as this process):

    .venv/bin/python bench/publish_live.py --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ivr.storage import CallStore  # noqa: E402
from tests.e2e.harness import IVR, IvrServer, run_call, start_server  # noqa: E402

ACME = REPO / "flows" / "acme_retail.yaml"
GREETING = "    text: Thank you for calling Acme.\n"
_STAMP = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"


def stamp(text: str) -> float:
    """A log timestamp as epoch seconds."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def changed_flow(folder: Path, round_no: int) -> Path:
    """The demo flow (with its test cases) whose greeting adds a sentence nobody has synthesized yet."""
    folder.mkdir(parents=True, exist_ok=True)
    text = ACME.read_text()
    assert GREETING in text, "the Acme greeting moved; update bench/publish_live.py"
    extra = f"This is publish test {round_no}, code {time.time_ns() % 100000}."
    path = folder / ACME.name
    path.write_text(text.replace(GREETING, GREETING.rstrip("\n") + f" {extra}\n", 1))
    for beside in ("acme_retail.tests.yaml", "acme_faq.yaml"):  # its test cases, and the knowledge base it names
        shutil.copy(ACME.with_name(beside), folder / beside)
    return path


class Callers:
    """Places short calls back to back until stopped (the traffic a publish lands in)."""

    def __init__(self, srv: IvrServer) -> None:
        self.srv, self.stop = srv, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            run_call(self.srv.uri, "0.3 hangup", max_seconds=10)

    def __enter__(self) -> Callers:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def wait_for(srv: IvrServer, pattern: str, timeout: float = 60) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, srv.log())
        if found:
            return found
        time.sleep(0.05)
    raise SystemExit(f"not logged within {timeout} s: {pattern}\n{srv.log()[-3000:]}")


def publish_store(srv: IvrServer, path: Path) -> None:
    async def store() -> None:
        s = CallStore(f"sqlite:///{srv.root / 'var/ivr.db'}", spool_dir=srv.root / "var/bench-spool")
        await s.start(run_migrations=False)
        try:
            await s.console.store_version("acme_retail", path.read_text(), by="bench", origin="bench")
        finally:
            await s.close()

    asyncio.run(store())


def publish_cli(srv: IvrServer, path: Path) -> None:
    cmd = [*IVR, "flows", "publish", "--config", str(srv.root / "config.toml"), str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"ivr flows publish failed:\n{done.stdout}\n{done.stderr}")


def one_round(srv: IvrServer, method: str, version: int, folder: Path) -> dict[str, float]:
    path = changed_flow(folder / f"{method}-{version}", version)
    requested = time.time()
    (publish_cli if method == "cli" else publish_store)(srv, path)
    stored = time.time()
    live = wait_for(srv, _STAMP + rf".*flow acme_retail version {version} live \(pre-warm ([\d.]+) s, load ([\d.]+) s")
    first = wait_for(srv, _STAMP + rf".*call \S+ offered on .*; flow acme_retail version {version}\b")
    return {
        "request_to_stored": stored - requested,
        "request_to_live": stamp(live.group(1)) - requested,
        "prewarm": float(live.group(2)),
        "load": float(live.group(3)),
        "request_to_first_call": stamp(first.group(1)) - requested,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="publishes per method (default 3)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="publish-live-"))
    # The demo's prompts stay cached between runs (var/ is not in git): on a busy machine a cold start synthesizes
    # ~60 prompts and can miss the harness's start-up deadline. Each round's new greeting is synthesized anyway.
    prompts = REPO / "var" / "bench-prompts"
    srv = start_server(folder / "serve", env={"IVR_FLOWS__DEFAULT": str(ACME), "IVR_TTS__CACHE_DIR": str(prompts)})
    results: dict[str, list[dict[str, float]]] = {"cli": [], "store": []}
    try:
        version = int(wait_for(srv, r"flow acme_retail version (\d+) live").group(1))
        with Callers(srv):
            for method in ("store", "cli"):
                for _ in range(args.rounds):
                    version += 1
                    row = one_round(srv, method, version, folder)
                    results[method].append(row)
                    print(method, version, {k: round(v * 1000) for k, v in row.items()}, flush=True)
                    time.sleep(1.0)
    finally:
        srv.stop()

    def med(rows: list[dict[str, float]], key: str) -> str:
        return f"{statistics.median(r[key] for r in rows) * 1000:.0f}" if rows else "-"

    print(
        "| publish by | rounds | request -> stored ms | request -> live ms | load (classifier) ms | pre-warm ms "
        "| request -> first new call ms (max) |"
    )
    print("|---|---|---|---|---|---|---|")
    for method, rows in results.items():
        worst = max(r["request_to_first_call"] for r in rows) * 1000
        print(
            f"| {method} | {len(rows)} | {med(rows, 'request_to_stored')} | {med(rows, 'request_to_live')} "
            f"| {med(rows, 'load')} | {med(rows, 'prewarm')} | {med(rows, 'request_to_first_call')} ({worst:.0f}) |"
        )
    print("medians; calls were placed back to back (`ivr call`, hang up after 0.3 s) during every publish")
    return 0


if __name__ == "__main__":
    sys.exit(main())
