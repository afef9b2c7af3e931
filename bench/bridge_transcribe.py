"""What live transcription of bridged calls costs: CPU per bridged call, and the bot's turn latency beside it.

Each scenario starts `ivr serve` (Kamailio, enough media workers for 2 callers + 2 agent legs each) with N agents.
N callers press 0 at the Acme menu and reach an agent phone (`ivr call --listen`); then both talk in turns for the
whole window: the agent reads five FSDD digits (about 3 s), the caller an espeak-ng sentence, each about every 6 s.
Meanwhile `--bot` callers keep calling the bot and saying "order status" over the menu, one call after another. The
bot's turn latency is what the product stores on every reply (turns.reply_latency: from the end of the caller's
speech, as the endpointer found it, to the reply's audio). CPU is read from /proc for the control process and the
media workers over the window (the phones are load generators and are not counted). Scenarios:
  0 bridged; N bridged with [bridge_speech] enabled = false (the bridges and phones, no transcription); N bridged.

    .venv/bin/python bench/bridge_transcribe.py --bridged 10 --window 60
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from asr.corpus import DigitTake, data_dir, spoken_digits  # noqa: E402
from bench.turn_latency import phrase_wav  # noqa: E402
from ivr.core.audio import write_wav  # noqa: E402
from tests.e2e.harness import IvrServer, finish_call, free_port, run_call, start_call, start_server  # noqa: E402

CALLER_SENTENCE = "My blue kettle has not arrived yet. Can you check?"
TICK = os.sysconf("SC_CLK_TCK")
# Prompts kept between runs, as a deployment keeps var/prompts (the e2e tests' cache, when they have made one).
PROMPTS = REPO / ".pytest_cache/d/ivr-e2e-prompts"


def _agents_toml(ports: list[int]) -> str:
    out = ['[[queues]]\nname = "support"\nring_timeout = 30\nwrap_up = 0.5\noverflow = ""\nmax_wait = 600\n']
    for i, port in enumerate(ports):
        out.append(f'[[agents]]\nid = "a{i}"\nsip_uri = "sip:a{i}@127.0.0.1:{port}"\nqueues = ["support"]\n')
    return "\n".join(out)


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _worker_pids(srv: IvrServer) -> list[int]:
    return [int(w["pid"]) for w in srv.status()["workers"].values()]


def _talk_steps(first: float, every: float, until: float, wav: Path) -> list[str]:
    steps, at = [], first
    while at < until:
        steps.append(f"{at:.1f} play {wav}")
        at += every
    return steps


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))]


def run(name: str, bridged: int, transcribe: bool, args: argparse.Namespace, audio: dict[str, Path],
        out: Path) -> dict[str, Any]:  # fmt: skip
    """One scenario: bridged calls talking for the window while bot callers take turns; returns its figures."""
    ports = [free_port() for _ in range(bridged)]
    workers = math.ceil(bridged / 2) + math.ceil(args.bot / 2) + 1  # 2 callers (+2 agent legs) per worker
    env = {
        "IVR_FLOWS__DEFAULT": str(REPO / "flows/acme_retail.yaml"),
        "IVR_WORKERS__LOG_LEVEL": "1",
        "IVR_TTS__CACHE_DIR": str(PROMPTS),
        "IVR_BRIDGE_SPEECH__ENABLED": str(transcribe).lower(),
        # The overload guard would admit only ~10 calls on 2 cores (it plans for bot turns), and on a loaded
        # machine it turns speech steps to keys and says "one moment": measured here is the turn itself.
        "IVR_OVERLOAD__MAX_CALLS": str(bridged + args.bot + 4),
        "IVR_OVERLOAD__KEYPAD_AFTER_MS": "600000",
        "IVR_OVERLOAD__ACK_AFTER_MS": "600000",
    }
    toml = _agents_toml(ports) if bridged else ""
    # Start-up loads the flow's intent model and pre-warms prompts: minutes on a machine other jobs keep busy.
    srv = start_server(out / name, workers=workers, env=env, extra_toml=toml, start_timeout=600)
    total = args.window + 45.0  # the bridges are up before the window starts and until after it ends
    phones: list[subprocess.Popen[bytes]] = []
    bot_turns = bot_calls = 0
    try:
        for port in ports:
            steps = _talk_steps(2.0, 6.0, total, audio["agent"])
            phones.append(start_call("", *steps, max_seconds=total,
                                     extra=("--listen", "--port", str(port), "--user", "agent")))  # fmt: skip
        time.sleep(2.0 if ports else 0.0)  # the phones bind their ports
        for _ in ports:
            steps = ["1.5 dtmf 0", *_talk_steps(9.0, 6.0, total, audio["caller"])]
            phones.append(start_call(srv.uri, *steps, max_seconds=total, extra=("--user", "bridged")))
            time.sleep(0.3)
        if bridged:
            deadline = time.monotonic() + 120  # phones on a loaded machine can be slow to answer
            while srv.log().count("connected to agent") < bridged and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(8.0)  # both parties are talking
        up = srv.log().count("connected to agent")
        pids = [srv.proc.pid, *_worker_pids(srv)]
        before = {pid: _cpu(pid) for pid in pids}
        started = time.monotonic()
        stop_at = started + args.window

        def bot_loop() -> None:
            nonlocal bot_calls
            while time.monotonic() < stop_at:
                # said over the menu prompt (barge-in), so a call is one turn and a few seconds long
                run_call(srv.uri, f"3.5 play {audio['bot']}", "+12 hangup", max_seconds=40, extra=("--user", "bot"))
                bot_calls += 1

        loops = [threading.Thread(target=bot_loop) for _ in range(args.bot)]
        for i, t in enumerate(loops):
            t.start()
            time.sleep(2.0 * i / max(1, args.bot))
        time.sleep(max(0.0, stop_at - time.monotonic()))
        after = {pid: _cpu(pid) for pid in pids}
        elapsed = time.monotonic() - started
        for t in loops:
            t.join()
        for p in phones:
            p.terminate()
        for p in phones:
            try:
                finish_call(p, timeout=30)
            except (AssertionError, subprocess.TimeoutExpired):
                p.kill()
        time.sleep(2.0)
        log = srv.log()
    finally:
        srv.stop(timeout=90)
    db = sqlite3.connect(srv.root / "var/ivr.db")
    latencies = [r[0] * 1000 for r in db.execute(
        "SELECT t.reply_latency FROM turns t JOIN calls c ON c.id = t.call_id "
        "WHERE c.caller LIKE '%bot@%' AND t.speaker = 'ivr' AND t.reply_latency IS NOT NULL")]  # fmt: skip
    bot_turns = len(latencies)
    stored = dict(db.execute(
        "SELECT t.speaker, count(*) FROM turns t JOIN calls c ON c.id = t.call_id "
        "WHERE c.caller LIKE '%bridged@%' AND t.speaker IN ('agent', 'caller') AND t.text NOT LIKE '[keys]%' "
        "GROUP BY t.speaker").fetchall())  # fmt: skip
    db.close()
    decoded = [float(m) for m in re.findall(r"segment of [\d.]+ s recognized (\d+) ms after its end", log)]
    control = after[pids[0]] - before[pids[0]]
    workers_cpu = sum(after[p] - before[p] for p in pids[1:])
    return {
        "name": name, "bridged": up, "transcribe": transcribe, "window": elapsed, "bot_calls": bot_calls,
        "bot_turns": bot_turns, "reply_p50": _pct(latencies, 50), "reply_p95": _pct(latencies, 95),
        "control": control, "workers": workers_cpu, "decoded": len(decoded),
        "dropped": log.count("waiting for a recognizer; the oldest"),
        "decode_p50": median(decoded) if decoded else float("nan"),
        "stored": stored,
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bridged", type=int, default=10, help="bridged calls in the loaded scenarios")
    ap.add_argument("--bot", type=int, default=2, help="callers taking turns with the bot, one call after another")
    ap.add_argument("--window", type=float, default=60.0, help="seconds measured per scenario")
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bridge-transcribe-"))
    takes = [DigitTake(data_dir() / "fsdd" / f"{d}_george_{i}.wav", int(d), "george") for i, d in enumerate("40721")]
    agent = out / "agent.wav"
    write_wav(agent, spoken_digits(takes, gap=0.15, pad=0.3), 8000)
    caller_dir, bot_dir = out / "caller", out / "bot"
    caller_dir.mkdir()
    bot_dir.mkdir()
    audio = {"agent": agent, "caller": phrase_wav(CALLER_SENTENCE, caller_dir)[0],
             "bot": phrase_wav("order status", bot_dir)[0]}  # fmt: skip
    scenarios = [("idle", 0, True), ("bridged-off", args.bridged, False), ("bridged-on", args.bridged, True)]
    rows = [run(name, n, on, args, audio, out) for name, n, on in scenarios]
    print(f"nproc {os.cpu_count()}, window {args.window:.0f} s per scenario, {args.bot} bot callers, out {out}")
    print("| scenario | bridged calls | transcription | bot turns | bot reply latency p50 / p95 ms "
          "| control CPU-s per min | workers CPU-s per min | bridged turns stored (agent / caller) "
          "| bridged segments decoded / dropped | decode after end of segment p50 ms |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        per_min = 60.0 / r["window"]
        print(f"| {r['name']} | {r['bridged']} | {'on' if r['transcribe'] else 'off'} | {r['bot_turns']} "
              f"| {r['reply_p50']:.0f} / {r['reply_p95']:.0f} | {r['control'] * per_min:.1f} "
              f"| {r['workers'] * per_min:.1f} | {r['stored'].get('agent', 0)} / {r['stored'].get('caller', 0)} "
              f"| {r['decoded']} / {r['dropped']} | {r['decode_p50']:.0f} |")  # fmt: skip
    idle, off, on = rows
    minutes = args.bridged * on["window"] / 60.0  # minutes of bridged call (both channels) in the window
    if minutes:
        print(f"\nper minute of bridged call ({args.bridged} calls x {on['window']:.0f} s):")
        print(f"- control process: {(on['control'] - idle['control']) / minutes:.2f} CPU-s with transcription "
              f"({(on['control'] - off['control']) / minutes:.2f} of it the transcription; "
              f"{(off['control'] - idle['control']) / minutes:.2f} the bridge without it)")  # fmt: skip
        print(f"- media workers: {(on['workers'] - idle['workers']) / minutes:.2f} CPU-s with transcription, "
              f"{(off['workers'] - idle['workers']) / minutes:.2f} without")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
