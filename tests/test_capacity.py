"""How many media workers `[workers] count = 0` picks, from cores, memory and the RTP port range."""

from __future__ import annotations

from ivr.core.config import WorkersConfig
from telephony.capacity import CALL_CORES, MEDIA_SHARE, WORKER_CORES, WORKER_MB, plan_workers


def test_a_small_machine_is_limited_by_its_cores() -> None:
    plan = plan_workers(WorkersConfig(), cores=2, available_mb=20_000)
    # half of 2 cores over (idle worker + 2 playback calls) per worker
    assert plan.workers == int(2 * MEDIA_SHARE / (WORKER_CORES + 2 * CALL_CORES)) == 99
    assert plan.callers == 198 and plan.limit == "CPU"
    assert "99 media workers x 2 callers = 198 concurrent calls, limited by CPU" in plan.describe()


def test_little_memory_or_a_short_port_range_limits_it_too() -> None:
    plan = plan_workers(WorkersConfig(), cores=32, available_mb=2_000)
    assert plan.workers == int(2_000 * MEDIA_SHARE / WORKER_MB) == 25 and plan.limit == "memory"
    narrow = plan_workers(WorkersConfig(rtp_port_start=65_000, rtp_ports_per_worker=100), cores=32, available_mb=1e6)
    assert narrow.workers == 5 and narrow.limit == "RTP ports"


def test_there_is_always_one_worker_and_callers_follow_the_config() -> None:
    assert plan_workers(WorkersConfig(), cores=1, available_mb=10).workers == 1
    four = plan_workers(WorkersConfig(callers_per_worker=4), cores=2, available_mb=20_000)
    assert four.callers == 4 * four.workers and four.workers < 99  # each worker carries more calls
