"""`ivr serve`: the control process. Builds the parts, starts workers and Kamailio, runs calls."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import flows
from asr.engines import load_recognizer
from flows import demo_sources
from flows.model import TransferStep
from ivr.core.config import Config
from ivr.core.errors import IvrError
from ivr.session.acd import Acd, queues_with_defaults
from ivr.session.bridge_speech import BridgeSpeech
from ivr.session.callbacks import CallbackDesk, trunk_domain
from ivr.session.customers import customer_sources
from ivr.session.desk import AgentDesk
from ivr.session.floor import FloorStats, JournalTee
from ivr.session.flow_call import FlowCall
from ivr.session.flow_registry import FlowRegistry
from ivr.session.hold import common_announcements, hold_music, load_hold_music
from ivr.session.journal import StoreJournal
from ivr.session.links import SECRET_FILE, TranscriptLinks
from ivr.session.live_floor import LiveFloor
from ivr.session.lookups import database_sources
from ivr.session.overload import OverloadGuard
from ivr.session.overload_call import OverloadWatch, keypad_prompts
from ivr.session.queueing import QueueTransfer
from ivr.session.records import keep_purging, open_call_store
from ivr.session.services import CallServices
from ivr.session.speech import CallSpeech
from ivr.session.survey import AfterCallSurvey
from ivr.storage import CallStore
from ivr.storage.callbacks import CallbackStore
from ivr.storage.csat import CsatStore
from ivr.web import WebServer, build_app
from ivr.web.context import WebContext
from telephony.capacity import plan_workers
from telephony.kamailio import KamailioProcess, find_kamailio
from telephony.remote_leg import RemoteCallLeg
from telephony.supervisor import WorkerSupervisor
from telephony.switchboard import Switchboard
from tts.cached import CachedSynthesizer

log = logging.getLogger("ivr")

READY_LINE = "ivr ready on sip:{host}:{port}"


def _planned_workers(config: Config) -> int:
    plan = plan_workers(config.workers)
    log.info("%s", plan.describe())
    return plan.workers


async def serve(config: Config, config_args: list[str]) -> int:
    """Run the IVR until SIGINT/SIGTERM; returns the exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    kamailio_bin = find_kamailio(config.kamailio)
    standalone = kamailio_bin is None
    workers = 1 if standalone else config.workers.count or _planned_workers(config)
    if standalone:
        log.warning(
            "Kamailio is not installed (or [kamailio] enabled = false): running ONE media worker on "
            "sip:%s:%d, which holds at most %d callers. Install the Debian package 'kamailio' to scale out.",
            config.sip.host, config.sip.port, config.workers.callers_per_worker,
        )  # fmt: skip

    recognizer = await asyncio.to_thread(load_recognizer, config.asr_section())  # once per process; streams are cheap
    guard = OverloadGuard(config.overload, config.asr.workers)
    voice = await CachedSynthesizer.open(config.tts, config.path(config.tts.cache_dir))
    services = CallServices(
        voice=voice,
        sources=demo_sources(),
        voicemail_dir=config.path(config.recordings.dir) / "voicemail",
        speech=CallSpeech(recognizer, config.vad, guard.load),
        overload=guard,
    )
    records = Records()
    board = Switchboard(config.workers.control_host, config.workers.control_port)
    supervisor = WorkerSupervisor(config_args, workers, standalone, config.workers.restart_delay_seconds)
    kamailio: KamailioProcess | None = None
    calls: set[asyncio.Task[None]] = set()
    registry: FlowRegistry | None = None
    try:
        store = await records.open_store(config, services)
        registry = FlowRegistry(store, voice, flow_path(config))
        await registry.start()  # the live version, its prompts pre-warmed, then following publishes
        await records.open(config, registry, services)
        records.floor.watch(acd=records.acd, board=board, store=store, recognizer=recognizer, workers_expected=workers)
        services.journal = JournalTee((services.journal, OverloadWatch(guard, voice)))  # "one moment" if late
        records.floor.overload = guard
        warmed = await voice.prewarm(records.prompts() + guard.prompts(), rates=(16000,))
        # the keypad notices are needed only once speech is saturated: they need not hold up the start
        records.tasks.append(asyncio.create_task(_prewarm(voice, keypad_prompts(guard, registry.pick().runner))))
        log.info("%s", guard.describe())
        log.info("queue prompts pre-warmed: %s", warmed)
        await board.start()
        await supervisor.start()
        # Workers start in parallel; on 2 cores 100 of them need ~15 s, so allow time per worker.
        await board.wait_workers(workers, timeout=30 + 0.5 * workers)
        if records.callbacks is not None:
            records.callbacks.dialer = board
            await records.callbacks.restore()  # pending callbacks of the last run keep their place
        if kamailio_bin is not None:
            ports = [config.workers.base_port + i for i in range(workers)]
            kamailio = KamailioProcess(kamailio_bin, config.sip, config.kamailio, ports, config.path("var/run"),
                                       retry_after=config.overload.retry_after_seconds)  # fmt: skip
            await kamailio.start()
        print(READY_LINE.format(host=config.sip.host, port=config.sip.port), flush=True)
        log.info("%d media worker(s), %d callers each", workers, config.workers.callers_per_worker)

        async def accept() -> None:
            async for leg in board.calls():
                if not guard.admit(len(calls)):  # refused before it is answered: calls in progress keep their speed
                    log.warning("call %s from %s refused: %d calls, capacity %d (503, Retry-After %d s)", leg.call_id,
                                leg.caller, len(calls), guard.call_capacity(), config.overload.retry_after_seconds)
                    await leg.reject(503, {"Retry-After": str(config.overload.retry_after_seconds)})
                    continue
                task = asyncio.create_task(_run_call(leg, registry, services, records), name=f"call-{leg.call_id}")
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
        if records.journal is not None:
            records.journal.stopping = True  # calls cut by the shutdown are recorded as interrupted
        supervisor.stopping()
        await board.stop()
        await supervisor.stop()
        for task in list(calls):
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        if registry is not None:
            await registry.stop()
        if kamailio is not None:
            await kamailio.stop()
        await records.close()
        await voice.aclose()
        log.info("stopped")


async def _prewarm(voice: CachedSynthesizer, texts: list[str]) -> None:
    await voice.prewarm(texts, rates=(16000,))


async def _run_call(leg: RemoteCallLeg, registry: FlowRegistry, services: CallServices, records: Records) -> None:
    pinned = registry.pick()  # the call keeps this runner to the end, whatever is published meanwhile
    log.info("call %s offered on %s from %s; flow %s version %s", leg.call_id, leg.worker, leg.caller, pinned.name,
             pinned.version)  # fmt: skip
    call = FlowCall(leg, pinned.runner, services)
    journal = records.journal
    records.floor.call_started(leg.call_id)
    if records.live is not None:
        records.live.call_started(leg.call_id, caller=leg.caller, flow=pinned.name, version=pinned.version)
    if journal is not None:
        journal.call_offered(leg, flow_name=pinned.name, flow_version=pinned.version)
    outcome = ""
    try:
        await call.run()
    finally:
        if journal is not None:
            outcome = await journal.call_finished(call)
        records.floor.call_ended(leg.call_id, outcome)
        if records.live is not None:
            records.live.call_ended(leg.call_id, outcome)


@dataclass
class Records:
    """Storage, recordings, the ACD and the web app: built at start-up, closed last at shutdown."""

    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="ivr-records")
    )
    store: CallStore | None = None
    journal: StoreJournal | None = None
    acd: Acd | None = None
    transfer: QueueTransfer | None = None
    survey: AfterCallSurvey | None = None
    web: WebServer | None = None
    floor: FloorStats = field(default_factory=FloorStats)  # live numbers for /metrics
    live: LiveFloor | None = None  # the supervisors' live floor and its event bus
    callbacks: CallbackDesk | None = None  # callers who hung up to be called back
    desk: AgentDesk | None = None  # the agents' desktops
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def open_store(self, config: Config, services: CallServices) -> CallStore:
        """Open the store (repairing what a crash left) and read orders from it."""
        self.store = await open_call_store(config, self.executor)
        orders = await database_sources(self.store, seed=config.storage.seed_demo_orders)  # orders from the database
        customers = await customer_sources(config.customers, self.store.customers)  # callers found by number
        services.sources = {**services.sources, **orders, **customers}
        self.tasks.append(asyncio.create_task(keep_purging(self.store, config, self.executor)))
        return self.store

    async def open(self, config: Config, registry: FlowRegistry, services: CallServices) -> None:
        """Log agents in and start the web app, after `open_store`; fill `services`."""
        assert self.store is not None
        runner = registry.pick().runner
        links = TranscriptLinks.from_config(config.web, config.path(SECRET_FILE))
        self.journal = StoreJournal(self.store, config.recordings, root=config.root, executor=self.executor)
        used = [s.queue for s in runner.flow.steps.values() if isinstance(s, TransferStep)]
        stored, agents = await self.store.desk.roster()  # managed in the console, seeded from config.toml
        self.acd = Acd(queues_with_defaults(stored, used), [a.config for a in agents], self.store)
        root = Path(config.root)
        music = {q.name: load_hold_music(q.hold_music, root) for q in self.acd.queues.values() if q.hold_music}
        await asyncio.to_thread(hold_music)  # generated once, before any caller waits for it
        self.survey = AfterCallSurvey(services.voice, config.survey, CsatStore(self.store))
        self.survey.observers.append(self.floor.survey_done)
        self.transfer = QueueTransfer(self.acd, services.voice, links=links, journal=self.journal, music=music,
                                      survey=self.survey)  # fmt: skip
        if config.bridge_speech.enabled and isinstance(services.speech, CallSpeech):
            self.transfer.speech = BridgeSpeech.on_background(services.speech.recognizer, config.vad,
                                                              config.bridge_speech)  # fmt: skip
        self.live = LiveFloor(self.acd, config.live, floor=self.floor)  # before start: it sees the agents log in
        self.callbacks = CallbackDesk(self.acd, services.voice, config.callbacks, store=CallbackStore(self.store),
                                      events=self.store, trunk_domain=trunk_domain(config.sip.trunk),
                                      watcher=self.live, journal=self.journal, links=links)  # fmt: skip
        self.transfer.callbacks = self.callbacks
        self.desk = AgentDesk(self.acd, self.live, config.desk, store=self.store)
        self.transfer.pops = self.desk
        self.acd.start()
        self.desk.start()
        await self.live.start(self.store)
        self.live.followups_open(await CsatStore(self.store).open_tasks())
        self.survey.observers.append(self.live.survey_done)
        context = WebContext(store=self.store, links=links, config=config.web, root=root, registry=registry,
                             voice=services.voice, floor=self.floor, flow_dirs=(flow_path(config).parent,),
                             recordings=config.recordings, live=self.live, survey=config.survey,
                             desk=self.desk)  # fmt: skip
        self.web = WebServer(build_app(context), config.web.host, config.web.port)
        await self.web.start()
        services.transfer, services.journal = self.transfer, JournalTee((self.journal, self.floor, self.live))

    def prompts(self) -> list[str]:
        """Texts callers may hear while queued, to synthesize before the first call."""
        survey = self.survey.prompts() if self.survey else []
        return (self.transfer.prompts() if self.transfer else []) + common_announcements() + survey

    async def close(self) -> None:
        """Stop the web app and timers, then commit every held write (or leave it in the spool)."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.callbacks is not None:
            await self.callbacks.stop()
        if self.acd is not None:
            await self.acd.stop()
        if self.survey is not None:
            await self.survey.aclose()  # scores of surveys cut by the shutdown are stored before the store closes
        if self.desk is not None:
            await self.desk.stop()
        if self.live is not None:
            await self.live.stop()  # ends the browsers' event streams, so the web app stops at once
        if self.web is not None:
            await self.web.stop()
        if self.store is not None:
            with contextlib.suppress(IvrError):
                await self.store.close()
        self.executor.shutdown(wait=True)


def flow_path(config: Config) -> Path:
    """The flow file `ivr serve` starts with: [flows] default, relative to config.toml, else a bundled flow."""
    path = config.path(config.flows.default)
    if not path.exists() and not Path(config.flows.default).is_absolute():
        bundled = Path(flows.__file__).parent / Path(config.flows.default).name
        if bundled.exists():
            path = bundled
    return path


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
