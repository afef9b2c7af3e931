"""FlowRegistry: which flow version a new call gets in the running `ivr serve`, changed without a restart.

A publish (from the console or `ivr flows publish`) is a storage write that bumps the flow's live revision.
The registry notices it (a poll of one small query, or a direct `refresh()` from the web app), loads the new
version, pre-warms its static prompts, and only then swaps it in. A call holds the runner it started with.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from flows import FlowRunner, FlowValidationError, load_flow_text, load_knowledge_text
from flows.knowledge import knowledge_path
from ivr.core.errors import IvrError
from ivr.session.flow_call import RATE, static_prompts
from ivr.storage import CallStore, StorageError

log = logging.getLogger("ivr.flows")

SERVE_USER = "ivr serve"
# Runners kept by source hash besides the live and candidate ones: a rollback to a version this process ran
# lately is then instant, instead of re-training its intent classifier (seconds for the demo flow).
_KEEP_RUNNERS = 4


class PromptWarmer(Protocol):
    """Synthesizes prompts into the TTS cache ahead of calls (CachedSynthesizer)."""

    async def prewarm(self, texts: Iterable[str], rates: Iterable[int]) -> Any: ...


class FlowLoadError(IvrError):
    """A stored flow version cannot be loaded; the version running before stays live."""


@dataclass(frozen=True)
class PinnedFlow:
    """The runner a new call keeps for its whole life, and the stored version it came from."""

    runner: FlowRunner
    name: str
    version: int | None  # None when there is no database (the flow file as it is)


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh changed: the versions now live and candidate, and how long loading and pre-warming took."""

    name: str
    live: int | None
    candidate: int | None
    share: int
    revision: int
    load_seconds: float
    prewarm_seconds: float
    error: str = ""  # set when a version failed to load (the previous one kept running)


@dataclass(frozen=True)
class RegistryStatus:
    """What this process gives new calls right now."""

    name: str
    live: int | None
    candidate: int | None
    share: int
    revision: int
    loaded_at: datetime | None
    last_prewarm_seconds: float


class FlowRegistry:
    """Holds the live flow runner (and an A/B candidate) of one flow, and follows publishes in the database."""

    def __init__(
        self,
        store: CallStore | None,
        voice: PromptWarmer,
        flow_path: Path,
        poll_seconds: float = 0.5,
        *,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._voice = voice
        self._path = Path(flow_path)
        self._poll_seconds = poll_seconds
        self._rng = rng
        try:
            self._file_text = self._path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FlowLoadError(
                f"cannot read the flow file {self._path} ({exc.strerror}); check [flows] default"
            ) from exc
        # Validated now, so a broken flow file stops `ivr serve` at once with every problem listed.
        self._file_flow = load_flow_text(self._file_text, str(self._path))
        # The knowledge base the flow answers from (`knowledge: NAME`) is versioned and published on its own,
        # under its name with kind "knowledge"; a change to either makes new runners.
        self._kb_name = self._file_flow.knowledge
        self._kb_path = knowledge_path(self._path, self._kb_name) if self._kb_name else None
        self._kb_file_text = ""
        if self._kb_path is not None:
            try:
                self._kb_file_text = self._kb_path.read_text(encoding="utf-8")
            except OSError as exc:
                raise FlowLoadError(f"cannot read the knowledge base {self._kb_path} ({exc.strerror})") from exc
            load_knowledge_text(self._kb_file_text, str(self._kb_path))  # problems stop start-up, with lines
        self._kb_text = self._kb_file_text
        self._kb_version: int | None = None
        self._kb_revision = -1
        self._live: PinnedFlow | None = None
        self._candidate: PinnedFlow | None = None
        self._share = 0
        self._revision = -1
        self._loaded_at: datetime | None = None
        self._prewarm_seconds = 0.0
        self._runners: OrderedDict[str, FlowRunner] = OrderedDict()  # source sha256 -> runner
        self._lock = asyncio.Lock()
        self._poll_task: asyncio.Task[None] | None = None
        self._file_version: int | None = None  # the flow file's stored version, once start() knows it

    @property
    def name(self) -> str:
        """The flow's name (`flow:` in its file)."""
        return self._file_flow.name

    @property
    def knowledge_name(self) -> str:
        """The knowledge base the flow answers from ("" if none)."""
        return self._kb_name

    @property
    def knowledge_version(self) -> int | None:
        """The knowledge base version new calls answer from (None: the file, no database)."""
        return self._kb_version

    @property
    def origin(self) -> str:
        """Where versions stored from the flow file say they came from."""
        return f"file:{self._path.resolve()}"

    async def start(self) -> None:
        """Store the flow file if it changed, load the live version (and candidate), pre-warm, and follow publishes."""
        if self._store is not None:
            try:
                await self._store_file_version(self._store)
                await self.refresh()
            except StorageError as exc:
                log.error("flow %s: cannot read its versions from the database (%s); running the flow file", self.name,
                          exc)  # fmt: skip
        if self._live is None:  # no database, or its live version could not be loaded
            self._kb_text = self._kb_file_text
            runner, load, warm = await self._prepare(self._file_text, str(self._path), self._kb_text)
            self._swap(PinnedFlow(runner, self.name, self._file_version), None, 0, self._revision, warm)
            log.info("flow %s from %s live (pre-warm %.2f s, load %.2f s)", self.name, self._path, warm, load)
        if self._store is not None:
            self._poll_task = asyncio.create_task(self._poll(), name=f"flow-registry-{self.name}")

    async def stop(self) -> None:
        """Stop following publishes (calls keep their runners)."""
        if self._poll_task is not None:
            self._poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll_task
            self._poll_task = None

    def pick(self) -> PinnedFlow:
        """The flow a new call runs: the candidate for `share` percent of calls, else the live version."""
        if self._live is None:
            raise FlowLoadError("FlowRegistry.pick() before start(); await registry.start() at start-up")
        if self._candidate is not None and self._rng() * 100 < self._share:
            return self._candidate
        return self._live

    def status(self) -> RegistryStatus:
        """The versions new calls get, when they were loaded, and the last pre-warm time."""
        live = self._live.version if self._live else None
        candidate = self._candidate.version if self._candidate else None
        return RegistryStatus(self.name, live, candidate, self._share if candidate is not None else 0,
                              self._revision, self._loaded_at, self._prewarm_seconds)  # fmt: skip

    async def refresh(self) -> RefreshResult | None:
        """Load what the database says is live now; None when nothing changed since the last refresh."""
        if self._store is None:
            return None
        async with self._lock:  # the poll and the web app's publish handler may both ask at once
            state = await self._store.console.live_state(self.name)
            kb = await self._refresh_knowledge(self._store)
            if state is None or state.live is None or (state.revision == self._revision and kb is None):
                return None
            kb_text = kb[0] if kb is not None else self._kb_text
            loaded: dict[int, FlowRunner] = {}
            errors: list[str] = []
            load = warm = 0.0
            for version in dict.fromkeys(v for v in (state.live, state.candidate) if v is not None):
                try:
                    source = await self._store.console.version_source(self.name, version)
                    if source is None:
                        raise FlowLoadError(f"flow {self.name} has no stored version {version}")
                    runner, took, warmed = await self._prepare(source, f"{self.name} version {version}", kb_text)
                except (FlowValidationError, FlowLoadError, StorageError) as exc:
                    errors.append(f"version {version}: {exc}")
                    log.error("flow %s version %d cannot be loaded, new calls keep version %s: %s",
                              self.name, version, self._live.version if self._live else "(none)", exc)  # fmt: skip
                    continue
                loaded[version] = runner
                load, warm = load + took, warm + warmed
            live = _pin(self.name, state.live, loaded) or self._live
            candidate = _pin(self.name, state.candidate, loaded)
            previous = self._live.version if self._live else None
            self._swap(live, candidate, state.share, state.revision, warm)
            if kb is not None:  # only now do new calls answer from it
                self._kb_text, self._kb_version, self._kb_revision = kb
            if live is not None and live.version != previous:
                log.info("flow %s version %s live (pre-warm %.2f s, load %.2f s)", self.name, live.version, warm, load)
            if candidate is not None:
                log.info("flow %s version %s is the A/B candidate for %d%% of new calls", self.name,
                         candidate.version, state.share)  # fmt: skip
            return RefreshResult(
                self.name, live.version if live else None, candidate.version if candidate else None,
                state.share if candidate else 0, state.revision, load, warm, "; ".join(errors),
            )  # fmt: skip

    # --- inside ----------------------------------------------------------------------------

    async def _store_file_version(self, store: CallStore) -> None:
        """A changed flow file becomes a new live version; an unchanged one leaves a console publish live."""
        self._file_version = await _store_if_changed(store, self.name, self._file_text, self._path, "flow")
        if self._kb_path is not None:
            await _store_if_changed(store, self._kb_name, self._kb_file_text, self._kb_path, "knowledge")

    async def _refresh_knowledge(self, store: CallStore) -> tuple[str, int, int] | None:
        """The knowledge base's live (text, version, revision) when it changed since this process took it."""
        if not self._kb_name:
            return None
        state = await store.console.live_state(self._kb_name)
        if state is None or state.live is None or state.revision == self._kb_revision:
            return None
        source = await store.console.version_source(self._kb_name, state.live)
        if source is None:
            return None
        try:
            load_knowledge_text(source, f"{self._kb_name} version {state.live}")
        except FlowValidationError as exc:
            log.error("knowledge base %s version %d cannot be loaded; calls keep version %s: %s",
                      self._kb_name, state.live, self._kb_version, exc)  # fmt: skip
            self._kb_revision = state.revision
            return None
        log.info("knowledge base %s version %d going live", self._kb_name, state.live)
        return source, state.live, state.revision

    async def _prepare(self, source: str, label: str, kb: str) -> tuple[FlowRunner, float, float]:
        """Runner for a flow source and knowledge base (reused if built lately), with its prompts pre-warmed."""
        sha = hashlib.sha256(f"{source}\0{kb}".encode()).hexdigest()
        runner = self._runners.get(sha)
        load = warm = 0.0
        if runner is None:
            started = time.perf_counter()
            runner = await asyncio.to_thread(_build_runner, source, label, kb)  # trains the intent classifier
            load = time.perf_counter() - started
            started = time.perf_counter()
            result = await self._voice.prewarm(static_prompts(runner), rates=(RATE,))
            warm = time.perf_counter() - started
            failed = getattr(result, "failed", ())
            if failed:
                log.warning("flow %s: %d prompt(s) could not be pre-warmed and will be synthesized during calls: %s",
                            label, len(failed), "; ".join(failed[:5]))  # fmt: skip
        self._runners[sha] = runner
        self._runners.move_to_end(sha)
        while len(self._runners) > _KEEP_RUNNERS:
            self._runners.popitem(last=False)
        return runner, load, warm

    def _swap(self, live: PinnedFlow | None, candidate: PinnedFlow | None, share: int, revision: int,
              prewarm: float) -> None:  # fmt: skip
        self._live, self._candidate = live, candidate
        self._share = share if candidate is not None else 0
        self._revision = revision
        self._loaded_at = datetime.now(UTC)
        self._prewarm_seconds = prewarm

    async def _poll(self) -> None:
        """Follow publishes made by other processes (the CLI, another console)."""
        # A poll of one tiny query works the same on SQLite and PostgreSQL (docs/flows.md says why not NOTIFY).
        assert self._store is not None
        failing = False
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                revisions = await self._store.console.live_revisions()
                revision, kb_revision = revisions.get(self.name), revisions.get(self._kb_name)
                moved = revision is not None and revision != self._revision
                if moved or (kb_revision is not None and kb_revision != self._kb_revision):
                    await self.refresh()
                failing = False
            except Exception as exc:  # ConsoleStore passes driver errors through, and the poll must outlive an outage
                if not failing:
                    log.warning("flow %s: cannot check the database for new versions (%r); retrying every %.1f s",
                                self.name, exc, self._poll_seconds)  # fmt: skip
                failing = True


def _build_runner(source: str, label: str, knowledge: str = "") -> FlowRunner:
    """The one place a flow version (and the knowledge base it answers from) becomes a runner."""
    kb = load_knowledge_text(knowledge, f"{label} (knowledge base)") if knowledge else None
    return FlowRunner(load_flow_text(source, label, knowledge=kb))


async def _store_if_changed(store: CallStore, name: str, text: str, path: Path, kind: str) -> int:
    """Store a file as the next live version unless the newest version from that file is the same text."""
    origin = f"file:{path.resolve()}"
    last = await store.console.last_from_origin(name, origin)
    if last is not None and last.sha256 == hashlib.sha256(text.encode()).hexdigest():
        return last.version
    version = await store.console.store_version(name, text, by=SERVE_USER, origin=origin, kind=kind,
                                                note=f"{kind} file at start-up")  # fmt: skip
    log.info("%s %s: %s changed, stored as version %d and made live", kind, name, path, version)
    return version


def _pin(name: str, version: int | None, loaded: dict[int, FlowRunner]) -> PinnedFlow | None:
    if version is None or version not in loaded:
        return None
    return PinnedFlow(loaded[version], name, version)
