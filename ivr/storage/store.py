"""CallStore: the call path's door to the database. Writes never block; reads run in a thread."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker

from ivr.core.config import AgentConfig, StorageConfig
from ivr.storage import calls, catalog, orders, reports, search
from ivr.storage.console import ConsoleStore
from ivr.storage.customers import CustomerStore
from ivr.storage.database import create_db_engine, normalize_url
from ivr.storage.desk import DeskStore
from ivr.storage.errors import StorageError
from ivr.storage.migrate import migrate
from ivr.storage.ops import CALL_UPDATE_FIELDS, WriteOp
from ivr.storage.qa_store import QaStore
from ivr.storage.spool import Spool
from ivr.storage.writer import BatchWriter

log = logging.getLogger("ivr.storage")

P = ParamSpec("P")
R = TypeVar("R")

CALL_STATUSES = ("ringing", "active", "completed", "abandoned", "transferred", "voicemail", "failed", "interrupted",
                 "callback")  # fmt: skip


class CallStore:
    """Write-behind store of calls, turns, intents, queue events and recordings, plus reports."""

    def __init__(
        self,
        url: str,
        *,
        spool_dir: str | Path = "var/spool",
        node: str = "",
        batch_size: int = 500,
        connect_timeout: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = normalize_url(url)
        self.node = node or socket.gethostname()
        self._clock = clock
        self._connect_timeout = connect_timeout
        self._engine: Engine = create_db_engine(self.url, connect_timeout=connect_timeout)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        safe_node = re.sub(r"[^A-Za-z0-9_.-]", "_", self.node)
        self._spool = Spool(Path(spool_dir) / f"writes-{safe_node}.jsonl")
        self._writer = BatchWriter(self._engine, self._spool, batch_size=batch_size)
        self._reads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ivr-storage-read")
        self._started = False

    @classmethod
    def from_config(cls, cfg: StorageConfig, *, root: str | Path = ".", node: str = "") -> CallStore:
        """Build from the [storage] section; relative paths resolve against `root`."""
        spool = Path(cfg.spool_dir)
        return cls(
            normalize_url(cfg.url, root),
            spool_dir=spool if spool.is_absolute() else Path(root) / spool,
            node=node,
            batch_size=cfg.batch_size,
            connect_timeout=cfg.connect_timeout_seconds,
        )

    # --- life cycle ----------------------------------------------------------------------

    async def start(self, *, run_migrations: bool = True) -> None:
        """Migrate the schema, then start the writer (replaying writes a previous run spooled)."""
        if run_migrations:
            await self._run(migrate, self.url, connect_timeout=self._connect_timeout)
        self._writer.start()
        self._started = True

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every write made so far is committed; False if still held after `timeout`."""
        if not self._started:
            raise StorageError("CallStore.flush() before start(); await store.start() at start-up")
        try:
            await asyncio.wait_for(asyncio.wrap_future(self._writer.barrier()), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued (or leave it in the spool) and release connections."""
        if self._started:
            loop = asyncio.get_running_loop()
            done = await loop.run_in_executor(None, self._writer.stop, timeout)
            if not done:
                log.error(
                    "storage: writer did not finish within %.0f s; unsaved writes are in %s", timeout, self._spool.path
                )
        self._reads.shutdown(wait=True)
        self._engine.dispose()

    @property
    def available(self) -> bool:
        """False while the database is unreachable (writes are being held)."""
        return self._writer.available

    @property
    def backlog(self) -> int:
        """Writes not yet committed."""
        return self._writer.backlog

    # --- writes: non-blocking, safe to call from the event loop ---------------------------

    def call_started(
        self,
        call_id: str,
        *,
        caller: str = "",
        callee: str = "",
        worker: str = "",
        flow_name: str = "",
        flow_version: int | None = None,
        at: float | None = None,
    ) -> None:
        """A call was offered (status 'ringing'); `at` is epoch seconds, default now."""
        self._put(
            "call_started",
            call_id=call_id,
            caller=caller,
            callee=callee,
            node=self.node,
            worker=worker,
            flow_name=flow_name,
            flow_version=flow_version,
            at=self._at(at),
        )

    def call_answered(self, call_id: str, *, at: float | None = None) -> None:
        """The call was answered (status 'active')."""
        self._put("call_answered", call_id=call_id, at=self._at(at))

    def call_updated(self, call_id: str, **fields: Any) -> None:
        """Set flow_name, flow_version, queue, agent_id or status of a call."""
        unknown = set(fields) - set(CALL_UPDATE_FIELDS)
        if unknown:
            raise StorageError(f"cannot update {sorted(unknown)} of a call; allowed: {CALL_UPDATE_FIELDS}")
        if "status" in fields and fields["status"] not in CALL_STATUSES:
            raise StorageError(f"unknown call status {fields['status']!r}; use one of {CALL_STATUSES}")
        self._put("call_updated", call_id=call_id, **fields)

    def call_ended(
        self,
        call_id: str,
        status: str,
        *,
        hangup_by: str = "",
        reason: str = "",
        sip_code: int = 0,
        at: float | None = None,
    ) -> None:
        """The call ended with `status` (completed, abandoned, transferred, voicemail, failed, ...)."""
        if status not in CALL_STATUSES:
            raise StorageError(f"unknown call status {status!r}; use one of {CALL_STATUSES}")
        self._put(
            "call_ended",
            call_id=call_id,
            status=status,
            hangup_by=hangup_by,
            reason=reason,
            sip_code=sip_code,
            at=self._at(at),
        )

    def add_turn(
        self,
        call_id: str,
        speaker: str,
        text: str,
        *,
        confidence: float | None = None,
        start: float | None = None,
        end: float | None = None,
        intent: str = "",
        intent_score: float | None = None,
        reply_latency: float | None = None,
        at: float | None = None,
    ) -> str:
        """A caller/ivr/agent utterance; start/end are seconds into the recording. Returns its uid.

        `reply_latency`: on an IVR turn answering the caller, seconds from the end of their speech to its audio.
        """
        uid = uuid.uuid4().hex
        self._put(
            "turn",
            uid=uid,
            call_id=call_id,
            speaker=speaker,
            text=text,
            confidence=confidence,
            start=start,
            end=end,
            intent=intent,
            intent_score=intent_score,
            reply_latency=reply_latency,
            at=self._at(at),
        )
        return uid

    def add_intent(
        self,
        call_id: str,
        name: str,
        score: float,
        *,
        slots: Mapping[str, str] | None = None,
        turn_uid: str | None = None,
        step: str = "",
        source: str = "speech",
        at: float | None = None,
    ) -> str:
        """An intent (with slot values) detected in a turn. Returns its uid."""
        uid = uuid.uuid4().hex
        self._put(
            "intent",
            uid=uid,
            call_id=call_id,
            name=name,
            score=score,
            slots=dict(slots or {}),
            turn_uid=turn_uid,
            step=step,
            source=source,
            at=self._at(at),
        )
        return uid

    def add_queue_event(
        self,
        kind: str,
        *,
        call_id: str = "",
        queue: str = "",
        agent_id: str = "",
        wait_seconds: float | None = None,
        detail: str = "",
        at: float | None = None,
    ) -> str:
        """An ACD fact (see ivr.queues decisions' `as_record()`). Returns its uid."""
        uid = uuid.uuid4().hex
        self._put(
            "queue_event",
            uid=uid,
            kind=kind,
            call_id=call_id,
            queue=queue,
            agent_id=agent_id,
            wait_seconds=wait_seconds,
            detail=detail,
            at=self._at(at),
        )
        return uid

    def add_recording(
        self,
        call_id: str,
        path: str,
        *,
        duration: float,
        channels: int = 2,
        sample_rate: int = 16000,
        sha256: str = "",
        size_bytes: int = 0,
        encrypted: bool = False,
        status: str = "complete",
        pauses: Sequence[tuple[float, float]] | None = None,
        at: float | None = None,
    ) -> str:
        """A finished (or repaired) recording file; `pauses`: its PCI pauses (s), None if unknown. Returns its uid."""
        uid = uuid.uuid4().hex
        self._put(
            "recording",
            uid=uid,
            call_id=call_id,
            path=path,
            duration=duration,
            channels=channels,
            sample_rate=sample_rate,
            sha256=sha256,
            size_bytes=size_bytes,
            encrypted=encrypted,
            status=status,
            pauses=None if pauses is None else [[float(start), float(end)] for start, end in pauses],
            at=self._at(at),
        )
        return uid

    def recording_purged(self, path: str, *, at: float | None = None) -> None:
        """A recording file was deleted by the retention policy."""
        self._put("recording_purged", path=path, at=self._at(at))

    # --- reads and start-up chores (run in a thread) -------------------------------------

    async def mark_interrupted_calls(self, flush_timeout: float = 10.0) -> list[str]:
        """At start-up: close calls this node left open when it died; returns their ids."""
        await self.flush(flush_timeout)
        return await self._session(calls.mark_interrupted_calls, self.node, commit=True)

    async def search_turns(
        self, query: str, *, limit: int = 50, speaker: str | None = None, call_id: str | None = None
    ) -> list[search.TurnHit]:
        """Turns containing every word of `query`, best match first."""
        return await self._session(search.search_turns, query, limit=limit, speaker=speaker, call_id=call_id)

    async def cdr(self, **filters: Any) -> list[reports.CdrRow]:
        """Call detail records (since, until, status, caller, limit, offset)."""
        return await self._session(reports.cdr, **filters)

    async def call_detail(self, call_id: str) -> calls.CallDetail | None:
        """One call with its turns, intents, queue events and recordings."""
        return await self._session(calls.call_detail, call_id)

    async def queue_stats(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        queue: str | None = None,
        service_level_seconds: float = 20.0,
    ) -> list[reports.QueueStats]:
        """Offered, answered, abandoned, avg/p90 wait and service level per queue."""
        return await self._session(
            reports.queue_stats, since=since, until=until, queue=queue, service_level_seconds=service_level_seconds
        )

    async def agent_occupancy(self, *, since: datetime, until: datetime) -> list[reports.AgentOccupancy]:
        """Per-agent available/working/not-ready time and occupancy."""
        return await self._session(reports.agent_occupancy, since=since, until=until)

    @property
    def console(self) -> ConsoleStore:
        """The web console's tables: users, audit log, flow versions, live pointers and drafts."""
        return ConsoleStore(self)

    @property
    def customers(self) -> CustomerStore:
        """Known customers: found by a caller's number for flows, managed in the console."""
        return CustomerStore(self)

    @property
    def qa(self) -> QaStore:
        """The QA console's tables: call search, a call's page, scores, corrections, retention and erasure."""
        return QaStore(self)

    @property
    def desk(self) -> DeskStore:
        """The agent desk's tables: agents and queues managed in the console, call dispositions."""
        return DeskStore(self)

    async def publish_flow(self, name: str, source: str, *, format: str = "yaml", published_by: str = "") -> int:
        """Store a validated flow as its next version; returns the version number."""
        return await self._session(
            catalog.publish_flow, name, source, format=format, published_by=published_by, commit=True
        )

    async def flow_version(self, name: str, version: int | None = None) -> catalog.FlowSource | None:
        """A flow version (latest when None) for a new call to pin."""
        return await self._session(catalog.flow_version, name, version)

    async def sync_agents(self, agents: Sequence[AgentConfig]) -> None:
        """Mirror `[[agents]]` into the agents table."""
        await self._session(catalog.sync_agents, agents, commit=True)

    async def add_user(self, username: str, **fields: Any) -> int:
        """Create a console user (role, display_name, password_hash)."""
        return await self._session(catalog.add_user, username, commit=True, **fields)

    async def get_user(self, username: str) -> catalog.UserRow | None:
        """A console user by name."""
        return await self._session(catalog.get_user, username)

    async def seed_orders(self, records: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Insert the orders of `records` that are missing (existing rows are kept); returns the numbers added."""
        return await self._session(orders.seed_orders, records, commit=True)

    async def get_order(self, number: str) -> dict[str, Any] | None:
        """The record of order `number`, None if there is none; StorageError when the database cannot answer."""
        try:
            return await self._session(orders.get_order, number)
        except DBAPIError as exc:
            where = self._engine.url.render_as_string(hide_password=True)
            raise StorageError(
                f"cannot read orders from the database at {where}: {exc.orig}; "
                "check that the server runs and [storage] url is right"
            ) from exc

    # --- internals -----------------------------------------------------------------------

    def _at(self, at: float | None) -> float:
        return self._clock() if at is None else at

    def _put(self, op_kind: str, /, **data: Any) -> None:
        if not self._started:
            raise StorageError("CallStore used before start(); await store.start() at start-up")
        self._writer.submit(WriteOp(op_kind, data))

    async def _run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reads, lambda: fn(*args, **kwargs))

    async def _session(self, fn: Callable[..., R], *args: Any, commit: bool = False, **kwargs: Any) -> R:
        def work() -> R:
            with self._sessions() as session:
                result = fn(session, *args, **kwargs)
                if commit:
                    session.commit()
                return result

        return await self._run(work)
