"""Concurrent-call benchmark: N calls at R calls/s through Kamailio against `ivr serve`.

Each call hears the greeting and stays up --hold seconds (playback only). We report answered %,
CPU, RSS and PSS of the IVR (control + workers + Kamailio; RSS counts shared libraries in every process,
PSS once), RSS and PSS per worker, and the gap between RTP packets the IVR
sent, measured from a loopback capture (dumpcap). Run as root (dumpcap on lo):

    .venv/bin/python bench/sip_load.py --levels 25,50,100,200 --rate 10 --hold 30
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import os
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.harness import free_port, start_server  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree(root_pid: int) -> list[int]:
    """root_pid and all its descendants (workers are in their own process groups)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _cpu_rss(pids: list[int]) -> tuple[float, int, dict[int, tuple[float, int]]]:
    total_cpu, total_rss, each = 0.0, 0, {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError):
            continue
        cpu = (int(fields[11]) + int(fields[12])) / CLK
        total_cpu += cpu
        total_rss += rss
        each[pid] = (cpu, rss)
    return total_cpu, total_rss, each


def _pss_mb(pids: list[int]) -> float:
    """Proportional set size of these processes together, in MB: shared libraries counted once, not per process."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration):
            continue
    return total / 1024


def _pcap_packets(path: Path) -> list[tuple[float, int]]:
    """(timestamp, udp source port) of every packet in a classic pcap from the loopback device."""
    data = path.read_bytes()
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off, out = 24, []
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[off : off + 16])
        pkt = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        l2 = 14 if linktype == 1 else (16 if linktype == 113 else 0)
        ip = pkt[l2:]
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 0x0F) * 4
        sport = struct.unpack("!H", ip[ihl : ihl + 2])[0]
        rtp = ip[ihl + 8 : ihl + 10]
        if len(rtp) < 2 or rtp[0] >> 6 != 2 or 200 <= rtp[1] <= 204:
            continue  # not RTP version 2, or an RTCP report (sent every ~5 s on port + 1)
        out.append((sec + frac / (1e9 if nano else 1e6), sport))
    return out


def _gaps(packets: list[tuple[float, int]]) -> tuple[list[float], list[tuple[int, float]]]:
    """Inter-packet gaps (ms) per RTP stream, plus where each gap over 40 ms fell (packet index, ms)."""
    streams: dict[int, list[float]] = {}
    for t, port in packets:
        streams.setdefault(port, []).append(t)
    gaps: list[float] = []
    late: list[tuple[int, float]] = []
    for times in streams.values():
        times.sort()
        for i, (a, b) in enumerate(itertools.pairwise(times)):
            if b - a < 1.0:  # a longer silence is a port reused by the next call
                gaps.append((b - a) * 1000)
                if b - a > 0.04:
                    late.append((i, (b - a) * 1000))
    return gaps, late


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(math.ceil(q / 100 * len(values))) - 1)]


def run_level(
    srv, n: int, rate: float, hold: float, rtp_range: tuple[int, int], out: Path, keep_pcap: bool = False
) -> dict[str, float]:
    pcap = out / f"rtp-{n}.pcap"
    cap = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-P", "-s", "64", "-w", str(pcap),
                            "-f", f"udp and src portrange {rtp_range[0]}-{rtp_range[1]}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(1.0)
    stat = out / f"sipp-{n}.csv"
    sipp = subprocess.Popen(["sipp", f"127.0.0.1:{srv.sip_port}", "-sf", str(REPO / "tests/sipp/uac_rr.xml"),
                             "-d", str(int(hold * 1000)), "-r", str(rate), "-l", str(n), "-m", str(n),
                             "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port()),
                             "-nostdin", "-trace_stat", "-stf", str(stat), "-fd", "1",
                             "-timeout", str(int(hold + n / rate + 60)) + "s"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    # steady state: all calls placed, greeting over, calls still up
    settle = n / rate + 6
    time.sleep(settle)
    pids = _tree(srv.proc.pid)
    cpu0, _, _ = _cpu_rss(pids)
    sipp_cpu0 = _cpu_rss([sipp.pid])[0]
    window = max(5.0, hold - settle - 2 + n / rate) if hold > settle + 7 else 5.0
    window = min(window, hold - 6)
    time.sleep(window)
    cpu1, rss, each1 = _cpu_rss(pids)
    pss = _pss_mb(pids)
    worker_pids = [w["pid"] for w in srv.status()["workers"].values()]
    worker_rss = [each1[p][1] / 2**20 for p in worker_pids if p in each1]
    worker_pss = _pss_mb(worker_pids) / max(len(worker_pids), 1)
    sipp_cpu1 = _cpu_rss([sipp.pid])[0]
    sipp.wait(timeout=hold + n / rate + 120)
    time.sleep(1.0)
    cap.send_signal(signal.SIGINT)
    cap.wait(10)
    ok = failed = 0
    with stat.open() as f:
        rows = list(csv.reader(f, delimiter=";"))
    if len(rows) >= 2:
        head, last = rows[0], rows[-1]
        ok = int(last[head.index("SuccessfulCall(C)")])
        failed = int(last[head.index("FailedCall(C)")])
    gaps, late = _gaps(_pcap_packets(pcap))
    if not keep_pcap:
        pcap.unlink()
    first_packets = sum(1 for i, _ in late if i == 0)
    return {
        "calls": n,
        "answered_pct": 100.0 * ok / n,
        "failed": failed,
        "cpu_pct": 100.0 * (cpu1 - cpu0) / window,
        "sipp_cpu_pct": 100.0 * (sipp_cpu1 - sipp_cpu0) / window,
        "rss_mb": rss / 2**20,
        "pss_mb": pss,
        "worker_rss_mb": statistics.median(worker_rss) if worker_rss else float("nan"),
        "worker_pss_mb": worker_pss,
        "control_rss_mb": each1.get(srv.proc.pid, (0.0, 0))[1] / 2**20,
        "gap_p50": _pct(gaps, 50),
        "gap_p99": _pct(gaps, 99),
        "gap_max": max(gaps) if gaps else float("nan"),
        "packets": len(gaps),
        "late": len(late),
        "late_at_start": first_packets,
        "procs": len(each1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="25,50,100,200")
    ap.add_argument("--rate", type=float, default=10.0, help="new calls per second")
    ap.add_argument("--hold", type=float, default=30.0, help="seconds each call stays up")
    ap.add_argument("--callers-per-worker", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "bench" / "out"))
    ap.add_argument("--keep-pcap", action="store_true", help="keep the RTP captures in --out")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    for tool in ("sipp", "dumpcap", "kamailio"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} is required (scripts/setup installs it)", file=sys.stderr)
            return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    workers = math.ceil(max(levels) / args.callers_per_worker)
    rtp_start, per = 20000, 20
    srv = start_server(out / "serve", workers=workers, env={
        "IVR_WORKERS__CALLERS_PER_WORKER": str(args.callers_per_worker),
        "IVR_WORKERS__RTP_PORT_START": str(rtp_start), "IVR_WORKERS__RTP_PORTS_PER_WORKER": str(per),
        "IVR_LOG__LEVEL": "WARNING", "IVR_WORKERS__LOG_LEVEL": "1",
        "IVR_FLOWS__DEFAULT": str(REPO / "flows" / "acme_retail.yaml"),
    })  # fmt: skip
    try:
        srv.wait_status(lambda s: len(s["workers"]) == workers, timeout=120)
        time.sleep(3)
        pids = _tree(srv.proc.pid)
        c0, _, _ = _cpu_rss(pids)
        time.sleep(5)
        c1, rss_idle, each = _cpu_rss(pids)
        worker_pids = [w["pid"] for w in srv.status()["workers"].values()]
        w_rss = statistics.median(each[p][1] for p in worker_pids if p in each) / 2**20
        print(f"workers: {workers} x {args.callers_per_worker} callers; idle: CPU {100 * (c1 - c0) / 5:.1f}% "
              f"of one core, RSS {rss_idle / 2**20:.0f} MB total, {w_rss:.1f} MB per worker (median)")  # fmt: skip
        rows = [
            run_level(srv, n, args.rate, args.hold, (rtp_start, rtp_start + workers * per), out, args.keep_pcap)
            for n in levels
        ]
    finally:
        srv.stop()
    print()
    print(
        "| concurrent calls | answered % | IVR CPU % (of 1 core) | sipp CPU % | IVR RSS MB | IVR PSS MB "
        "| worker RSS MB (median) | worker PSS MB (mean) | control RSS MB "
        "| RTP gap p50 ms | p99 ms | max ms | gaps measured | gaps > 40 ms (after 1st packet) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['calls']} | {r['answered_pct']:.1f} | {r['cpu_pct']:.0f} | {r['sipp_cpu_pct']:.0f} "
              f"| {r['rss_mb']:.0f} | {r['pss_mb']:.0f} | {r['worker_rss_mb']:.1f} | {r['worker_pss_mb']:.1f} "
              f"| {r['control_rss_mb']:.0f} | {r['gap_p50']:.2f} | {r['gap_p99']:.2f} | {r['gap_max']:.1f} "
              f"| {r['packets']} | {r['late']} ({r['late_at_start']}) |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
