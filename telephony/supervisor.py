"""Starts the media worker processes and restarts any that die."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

log = logging.getLogger(__name__)


class WorkerSupervisor:
    """Runs `ivr worker --index i` for each index and restarts a worker that exits."""

    def __init__(self, config_args: Sequence[str], count: int, standalone: bool, restart_delay: float) -> None:
        self._config_args = list(config_args)
        self.count = count
        self.standalone = standalone
        self.restart_delay = restart_delay
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        self.restarts = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        """Spawn every worker."""
        for index in range(self.count):
            self._tasks.append(asyncio.create_task(self._keep(index), name=f"worker-{index}"))

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        args = [sys.executable, "-m", "ivr", "worker", *self._config_args, "--index", str(index)]
        if self.standalone:
            args.append("--standalone")
        # Own process group: a Ctrl-C in the terminal reaches only `ivr serve`, which then
        # shuts the workers down in order (BYE first) instead of having them die mid-call.
        proc = await asyncio.create_subprocess_exec(*args, process_group=0)
        self.procs[index] = proc
        return proc

    async def _keep(self, index: int) -> None:
        while not self._stopping:
            proc = await self._spawn(index)
            code = await proc.wait()
            if self._stopping:
                return
            self.restarts += 1
            log.error("media worker w%d (pid %d) exited with code %s; restarting", index, proc.pid, code)
            await asyncio.sleep(self.restart_delay)

    def stopping(self) -> None:
        """From now on a worker that exits is expected to, and is not restarted."""
        self._stopping = True

    async def stop(self, timeout: float = 8.0) -> None:
        """Wait for workers to exit (after the switchboard told them to); kill stragglers."""
        self._stopping = True
        procs = [p for p in self.procs.values() if p.returncode is None]
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), timeout)
        except TimeoutError:
            for p in procs:
                if p.returncode is None:
                    log.warning("media worker pid %d did not exit; terminating", p.pid)
                    p.send_signal(signal.SIGTERM)
            await asyncio.gather(*(p.wait() for p in procs))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
