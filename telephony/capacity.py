"""How many media workers this machine carries: from its cores, its memory and the measured cost of a call.

`[workers] count = 0` (the default) asks for this plan; `ivr serve` logs it. The costs are measured with
bench/sip_load.py (BENCHMARKS.md, "Telephony"): keep them in step with the numbers there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ivr.core.config import WorkersConfig

# CPU of one playback call in its worker (pjmedia's player and RTP; no Python per frame), in cores.
CALL_CORES = 0.0028
# CPU of an idle worker (the pjsua2 thread woken on demand, stats once a second), in cores.
WORKER_CORES = 0.0045
# RSS of a worker with its calls up. RSS, not PSS: it counts the shared libraries in every worker, so
# the plan errs towards fewer workers.
WORKER_MB = 40.0
# The media workers get half of the cores and of the free memory; the control process (speech
# recognition and synthesis, flows, storage, the web console) and the rest of the machine keep the other half.
MEDIA_SHARE = 0.5
_PORTS = 65536


@dataclass(frozen=True)
class WorkerPlan:
    """The number of workers chosen, the calls they hold, and what limited it."""

    workers: int
    callers: int
    by_cpu: int
    by_memory: int
    by_ports: int
    cores: int
    available_mb: float

    @property
    def limit(self) -> str:
        """'CPU', 'memory' or 'RTP ports': whichever allows the fewest workers."""
        return min((self.by_cpu, "CPU"), (self.by_memory, "memory"), (self.by_ports, "RTP ports"))[1]

    def describe(self) -> str:
        """The log line of `ivr serve`."""
        return (
            f"capacity: {self.workers} media workers x {self.callers // max(self.workers, 1)} callers = "
            f"{self.callers} concurrent calls, limited by {self.limit} ({self.cores} cores allow {self.by_cpu} "
            f"workers, {self.available_mb / 1024:.1f} GB available memory {self.by_memory}, the RTP port range "
            f"{self.by_ports}); set [workers] count to choose another number"
        )


def plan_workers(cfg: WorkersConfig, cores: int | None = None, available_mb: float | None = None) -> WorkerPlan:
    """Workers for `cfg.count = 0`: as many as the cores, the memory and the RTP port range all allow."""
    cores = cores if cores is not None else len(os.sched_getaffinity(0))
    available_mb = available_mb if available_mb is not None else _available_mb()
    per_worker = WORKER_CORES + CALL_CORES * cfg.callers_per_worker
    by_cpu = int(cores * MEDIA_SHARE / per_worker)
    by_memory = int(available_mb * MEDIA_SHARE / WORKER_MB)
    by_ports = (_PORTS - cfg.rtp_port_start) // max(cfg.rtp_ports_per_worker, 1)
    workers = max(1, min(by_cpu, by_memory, by_ports))
    return WorkerPlan(workers, workers * cfg.callers_per_worker, by_cpu, by_memory, by_ports, cores, available_mb)


def _available_mb() -> float:
    """MemAvailable from /proc/meminfo (what can be used without swapping), in MB."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") / 2**20
