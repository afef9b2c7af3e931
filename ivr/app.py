"""`ivr serve`: the control process. Builds the parts, starts workers and Kamailio, runs calls."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

import flows
from flows import FlowRunner, demo_sources, load_flow
from ivr.core.config import Config
from ivr.core.errors import IvrError
from ivr.session.flow_call import CallServices, FlowCall, static_prompts
from telephony.kamailio import KamailioProcess, find_kamailio
from telephony.remote_leg import RemoteCallLeg
from telephony.supervisor import WorkerSupervisor
from telephony.switchboard import Switchboard
from tts.cached import CachedSynthesizer

log = logging.getLogger("ivr")

READY_LINE = "ivr ready on sip:{host}:{port}"


def setup_logging(level: str, file: str = "") -> None:
    """One log format for every process: time, process role, level, message."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if file:
        handlers.append(logging.FileHandler(file))
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(processName)s[%(process)d] %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


async def serve(config: Config, config_args: list[str]) -> int:
    """Run the IVR until SIGINT/SIGTERM; returns the exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    kamailio_bin = find_kamailio(config.kamailio)
    standalone = kamailio_bin is None
    workers = 1 if standalone else config.workers.count
    if standalone:
        log.warning(
            "Kamailio is not installed (or [kamailio] enabled = false): running ONE media worker on "
            "sip:%s:%d, which holds at most %d callers. Install the Debian package 'kamailio' to scale out.",
            config.sip.host, config.sip.port, config.workers.callers_per_worker,
        )  # fmt: skip

    runner = load_runner(config)
    voice = await CachedSynthesizer.open(config.tts, config.path(config.tts.cache_dir))
    warmed = await voice.prewarm(static_prompts(runner), rates=(16000,))
    log.info("flow %s loaded; prompts pre-warmed: %s", runner.flow.version, warmed)
    services = CallServices(
        voice=voice, sources=demo_sources(), voicemail_dir=config.path(config.recordings.dir) / "voicemail"
    )
    board = Switchboard(config.workers.control_host, config.workers.control_port)
    await board.start()
    supervisor = WorkerSupervisor(config_args, workers, standalone, config.workers.restart_delay_seconds)
    kamailio: KamailioProcess | None = None
    calls: set[asyncio.Task[None]] = set()
    try:
        await supervisor.start()
        await board.wait_workers(workers, timeout=60)
        if kamailio_bin is not None:
            ports = [config.workers.base_port + i for i in range(workers)]
            kamailio = KamailioProcess(kamailio_bin, config.sip, config.kamailio, ports, config.path("var/run"))
            await kamailio.start()
        print(READY_LINE.format(host=config.sip.host, port=config.sip.port), flush=True)
        log.info("%d media worker(s), %d callers each", workers, config.workers.callers_per_worker)

        async def accept() -> None:
            async for leg in board.calls():
                task = asyncio.create_task(_run_call(leg, runner, services), name=f"call-{leg.call_id}")
                calls.add(task)
                task.add_done_callback(calls.discard)

        acceptor = asyncio.create_task(accept())
        status = asyncio.create_task(_write_status(board, supervisor, config.path("var/run/status.json")))
        await stop.wait()
        status.cancel()
        log.info("shutting down: ending %d call(s)", board.active_legs())
        acceptor.cancel()
        return 0
    except IvrError as exc:
        log.error("%s", exc)
        return 2
    finally:
        supervisor.stopping()
        await board.stop()
        await supervisor.stop()
        for task in list(calls):
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        if kamailio is not None:
            await kamailio.stop()
        await voice.aclose()
        log.info("stopped")


async def _run_call(leg: RemoteCallLeg, runner: FlowRunner, services: CallServices) -> None:
    log.info("call %s offered on %s from %s", leg.call_id, leg.worker, leg.caller)
    await FlowCall(leg, runner, services).run()


def load_runner(config: Config) -> FlowRunner:
    """The flow `ivr serve` runs: [flows] default, relative to config.toml, else a bundled flow."""
    path = config.path(config.flows.default)
    if not path.exists() and not Path(config.flows.default).is_absolute():
        bundled = Path(flows.__file__).parent / Path(config.flows.default).name
        if bundled.exists():
            path = bundled
    return FlowRunner(load_flow(path))


async def _write_status(board: Switchboard, supervisor: WorkerSupervisor, path: Path) -> None:
    """Keep a health snapshot on disk for operators and tests (replaced atomically each second)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        status = board.status()
        status["worker_restarts"] = supervisor.restarts
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(status, indent=1))
        tmp.replace(path)
        await asyncio.sleep(1.0)
