"""FloorStats: the live numbers of this control process (calls, turns, reply latency, backlogs, queues, agents).

Counters are fed by the session layer as calls run: `FloorStats` is itself a CallJournal, so it sees each call's
events next to the database journal (`JournalTee`). Gauges (queues, agents, workers, backlogs) are read from
their owners when a snapshot is taken. Plain Python: `/metrics` (ivr.web.metrics) and the dashboards render it.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ivr.core.events import Event, Play, Say, SpeechEnded, Transcript
from ivr.queues import AgentState

if TYPE_CHECKING:
    from ivr.core.interfaces import Recognizer
    from ivr.session.acd import Acd
    from ivr.session.overload import OverloadGuard, OverloadNumbers
    from ivr.storage import CallStore
    from telephony.switchboard import Switchboard

# Seconds from the end of the caller's speech to the first audio of the reply. The target is under 1 s, and a
# turn that waited for the full trailing pause plus a slow decode lands around 2 s: the buckets resolve both.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)


class _Call(Protocol):
    call_id: str
    listen: Any  # the Listen the flow waits on, None between turns


@dataclass(frozen=True)
class Histogram:
    """Cumulative counts per upper bound (the last is +inf), with the total count and sum."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    sum: float


@dataclass(frozen=True)
class QueueNumbers:
    """Callers waiting in one queue, and how long the first of them has waited."""

    waiting: int
    oldest_wait_seconds: float


@dataclass(frozen=True)
class FloorSnapshot:
    """Every floor number at one moment; None where this process has no such part (yet)."""

    active_calls: int
    calls_by_outcome: Mapping[str, int]
    turns: int
    reply_latency: Histogram
    decode_backlog: int | None
    queues: Mapping[str, QueueNumbers]
    agents_by_state: Mapping[str, int]
    workers_up: int | None
    workers_expected: int
    call_legs: int | None
    db_write_backlog: int | None
    db_available: bool | None
    surveys_offered: int = 0  # after-call surveys offered to callers
    surveys_answered: int = 0  # ... that got a score
    survey_scores: Mapping[int, int] = field(default_factory=dict)  # score 1-5 -> how many
    overload: OverloadNumbers | None = None  # decode capacity and what overload did (ivr.session.overload)


@dataclass
class _Sources:
    acd: Acd | None = None
    board: Switchboard | None = None
    store: CallStore | None = None
    recognizer: Recognizer | None = None
    workers_expected: int = 0


@dataclass
class _Turns:
    speech_end: float | None = None  # the latest end of speech of this call
    awaiting: float | None = None  # end of speech of a turn the flow took, until the reply's first audio


class FloorStats:
    """Live numbers of this process; a CallJournal for the per-call counters, plus gauges read on demand."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock  # the monotonic clock SpeechEnded.at and queue times are on
        self._active: set[str] = set()
        self._outcomes: Counter[str] = Counter()
        self._turns = 0
        self._calls: dict[str, _Turns] = {}
        self._bucket_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = 0.0
        self._sources = _Sources()
        self.on_reply: list[Callable[[str, float], None]] = []  # (call id, seconds) of each reply, as measured
        self.overload: OverloadGuard | None = None  # set by `ivr serve`
        self._survey_scores: Counter[int] = Counter()
        self._surveys_offered = 0

    def watch(
        self,
        *,
        acd: Acd | None = None,
        board: Switchboard | None = None,
        store: CallStore | None = None,
        recognizer: Recognizer | None = None,
        workers_expected: int = 0,
    ) -> None:
        """Where the gauges come from (given by `ivr serve` as it builds the parts)."""
        self._sources = _Sources(acd, board, store, recognizer, workers_expected)

    # --- fed by the session layer ----------------------------------------------------------

    def call_started(self, call_id: str) -> None:
        """A call was offered to a flow."""
        self._active.add(call_id)
        self._calls[call_id] = _Turns()

    def call_ended(self, call_id: str, outcome: str) -> None:
        """A call is over; `outcome` is its final status (completed, transferred, abandoned, voicemail ...)."""
        self._active.discard(call_id)
        self._calls.pop(call_id, None)
        self._outcomes[outcome or "unknown"] += 1

    def event(self, call: _Call, event: Event) -> None:
        """CallJournal: count caller turns and time each reply from the end of the caller's speech."""
        turns = self._calls.get(call.call_id)
        if turns is None:
            return
        if isinstance(event, SpeechEnded):
            turns.speech_end = event.at
        elif isinstance(event, Transcript):
            # the same test FlowCall applies before it feeds a result to the flow
            if event.final and event.text.strip() and call.listen is not None:
                self._turns += 1
                turns.awaiting, turns.speech_end = turns.speech_end, None
        elif isinstance(event, Say | Play) and turns.awaiting is not None:
            # journaled when the prompt's audio is ready and about to be played: the reply's first audio
            seconds = self._clock() - turns.awaiting
            self.reply_latency(seconds)
            turns.awaiting = None
            for fn in self.on_reply:
                fn(call.call_id, seconds)

    def survey_done(self, result: Any, task: Any = None) -> None:
        """An after-call survey ended (ivr.storage.csat.SurveyResult): count it, and its score if it got one."""
        self._surveys_offered += 1
        if result.score is not None:
            self._survey_scores[int(result.score)] += 1

    def reply_latency(self, seconds: float) -> None:
        """One reply's delay after the end of the caller's speech."""
        self._bucket_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._latency_sum += seconds

    # --- read ------------------------------------------------------------------------------

    def snapshot(self) -> FloorSnapshot:
        """Every number now (cheap: in-memory reads only, safe on the event loop)."""
        s = self._sources
        cumulative, total = [], 0
        for bound, n in zip((*LATENCY_BUCKETS, float("inf")), self._bucket_counts, strict=True):
            total += n
            cumulative.append((bound, total))
        backlog = getattr(s.recognizer, "backlog", None) if s.recognizer is not None else None
        return FloorSnapshot(
            active_calls=len(self._active),
            calls_by_outcome=dict(self._outcomes),
            turns=self._turns,
            reply_latency=Histogram(tuple(cumulative), total, self._latency_sum),
            decode_backlog=int(backlog) if backlog is not None else None,
            queues=self._queues(),
            agents_by_state=self._agents(),
            workers_up=len(s.board.workers) if s.board is not None else None,
            workers_expected=s.workers_expected,
            call_legs=s.board.active_legs() if s.board is not None else None,
            db_write_backlog=s.store.backlog if s.store is not None else None,
            db_available=s.store.available if s.store is not None else None,
            surveys_offered=self._surveys_offered,
            surveys_answered=sum(self._survey_scores.values()),
            survey_scores=dict(self._survey_scores),
            overload=self.overload.snapshot() if self.overload is not None else None,
        )

    def _queues(self) -> dict[str, QueueNumbers]:
        acd = self._sources.acd
        if acd is None:
            return {}
        now, out = self._clock(), {}
        for name in acd.queues:
            waiting = acd.distributor.waiting(name)
            oldest = min((e.enqueued_at for e in waiting), default=now)
            out[name] = QueueNumbers(len(waiting), max(0.0, now - oldest))
        return out

    def _agents(self) -> dict[str, int]:
        acd = self._sources.acd
        if acd is None:
            return {}
        counts = {state.value: 0 for state in AgentState}
        for agent_id in acd.agents:
            counts[acd.distributor.agent_state(agent_id).value] += 1
        return counts


@dataclass
class JournalTee:
    """A CallJournal that hands every call event to several (the database's and the floor's)."""

    journals: tuple[Any, ...] = field(default_factory=tuple)

    def event(self, call: Any, event: Event) -> None:
        """Pass the event on to each journal, in order."""
        for journal in self.journals:
            journal.event(call, event)
