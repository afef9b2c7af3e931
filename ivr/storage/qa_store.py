"""QaStore: the QA console's reads and writes (search, a call's page, retention, erasure), off the event loop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ivr.storage import call_review as review
from ivr.storage import call_search, corrections, privacy, qa_reports, scorecards

if TYPE_CHECKING:
    from ivr.storage.store import CallStore


class QaStore:
    """Async door to the QA tables; every call runs in the store's read threads (and commits when it writes)."""

    def __init__(self, store: CallStore) -> None:
        self._store = store

    async def _do(self, fn: Any, *args: Any, commit: bool = False, **kwargs: Any) -> Any:
        return await self._store._session(fn, *args, commit=commit, **kwargs)

    @property
    def dialect(self) -> str:
        """The database's dialect name (sqlite or postgresql)."""
        return str(self._store._engine.dialect.name)

    # --- search and a call's page (QA-A) ------------------------------------------------------
    async def search_calls(self, f: call_search.CallFilter, *, limit: int, offset: int) -> call_search.CallPage:
        """A page of calls matching the filter, and how many match."""
        result: call_search.CallPage = await self._do(call_search.search_calls, f, limit=limit, offset=offset)
        return result

    async def export_calls(self, f: call_search.CallFilter, *, limit: int) -> list[call_search.CallRow]:
        """Up to `limit` matching calls in order (the CSV export)."""

        def read(session: Any) -> list[call_search.CallRow]:
            rows: Iterator[call_search.CallRow] = call_search.iter_calls(session, f, limit=limit)
            return list(rows)

        result: list[call_search.CallRow] = await self._do(read)
        return result

    async def facets(self) -> dict[str, list[str]]:
        """Queues, agents, flows, intents and outcomes to offer in the search form."""
        result: dict[str, list[str]] = await self._do(call_search.facets)
        return result

    async def agent_ids_of(self, username: str) -> tuple[str, ...]:
        """The agent ids a console user answers calls as."""
        result: tuple[str, ...] = await self._do(call_search.agent_ids_of, username)
        return result

    async def call_review(self, call_id: str) -> review.CallReview | None:
        """One call with everything stored about it."""
        result: review.CallReview | None = await self._do(review.call_review, call_id)
        return result

    async def recording_file(self, uid: str) -> review.RecordingFile | None:
        """A recording by uid."""
        result: review.RecordingFile | None = await self._do(review.recording_file, uid)
        return result

    async def recorded_call(self, call_id: str) -> Any:
        """The call's caller inputs in order (flow_stats.RecordedCall), to replay its path."""
        return await self._do(review.recorded_call, call_id)

    # --- retention and erasure (QA-A) ---------------------------------------------------------
    async def retention(self, defaults: dict[str, int | None]) -> list[privacy.Retention]:
        """Retention of audio, transcripts and slots (stored, else the defaults)."""
        result: list[privacy.Retention] = await self._do(privacy.retention, defaults)
        return result

    async def set_retention(self, kind: str, days: int | None, *, by: str) -> None:
        """Keep `kind` for `days` (None: forever)."""
        await self._do(privacy.set_retention, kind, days, by=by, commit=True)

    async def purge_transcripts(self, before: datetime) -> int:
        """Delete turns of calls started before `before`."""
        return int(await self._do(privacy.purge_transcripts, before, commit=True))

    async def purge_slots(self, before: datetime) -> int:
        """Delete slot values of calls started before `before`."""
        return int(await self._do(privacy.purge_slots, before, commit=True))

    async def expired_recordings(self, before: datetime) -> list[tuple[str, str]]:
        """(uid, path) of unpurged recordings of calls started before `before`."""
        result: list[tuple[str, str]] = await self._do(privacy.expired_recordings, before)
        return result

    async def mark_purged(self, uids: list[str]) -> None:
        """Note that these recordings' files were deleted."""
        await self._do(privacy.mark_purged, uids, commit=True)

    async def find_caller(self, number: str) -> list[tuple[str, str, datetime]]:
        """A caller's calls by number."""
        result: list[tuple[str, str, datetime]] = await self._do(privacy.find_caller, number)
        return result

    async def erase_caller(self, number: str) -> privacy.Erasure:
        """Delete all stored data of the caller's calls; returns what went (and the recording files to delete)."""
        result: privacy.Erasure = await self._do(privacy.erase_caller, number, commit=True)
        return result

    # --- scorecards, reviews and the review sample (QA-B) -------------------------------------
    async def list_scorecards(self, *, active_only: bool = False) -> list[scorecards.ScorecardRow]:
        """Every scorecard by name."""
        result: list[scorecards.ScorecardRow] = await self._do(scorecards.list_scorecards, active_only=active_only)
        return result

    async def get_scorecard(self, card_id: int) -> scorecards.ScorecardRow | None:
        """One scorecard."""
        result: scorecards.ScorecardRow | None = await self._do(scorecards.get_scorecard, card_id)
        return result

    async def create_scorecard(self, name: str, **fields: Any) -> scorecards.ScorecardRow:
        """A new scorecard (description, definition, active, by); StorageError if the name is taken."""
        result: scorecards.ScorecardRow = await self._do(scorecards.create_scorecard, name, commit=True, **fields)
        return result

    async def update_scorecard(self, card_id: int, **fields: Any) -> scorecards.ScorecardRow:
        """Change a scorecard under its revision lock; ScorecardConflict if someone changed it first."""
        result: scorecards.ScorecardRow = await self._do(scorecards.update_scorecard, card_id, commit=True, **fields)
        return result

    async def save_review(self, call_id: str, card_id: int, **fields: Any) -> scorecards.ReviewRow:
        """Store a reviewer's scoring of a call (replacing their earlier one on the same card)."""
        result: scorecards.ReviewRow = await self._do(scorecards.save_review, call_id, card_id, commit=True, **fields)
        return result

    async def list_reviews(self, **filters: Any) -> list[scorecards.ReviewRow]:
        """Reviews newest first (call_id, since, until, agent, reviewer, limit)."""
        result: list[scorecards.ReviewRow] = await self._do(scorecards.list_reviews, **filters)
        return result

    async def sample_calls(self, day: date, **fields: Any) -> list[str]:
        """Draw a share of each agent's calls of `day` into the review queue; returns the call ids added."""
        result: list[str] = await self._do(scorecards.sample_calls, day, commit=True, **fields)
        return result

    async def review_queue(self, **filters: Any) -> list[scorecards.SampleRow]:
        """Sampled calls (day, agent, status pending/done/all)."""
        result: list[scorecards.SampleRow] = await self._do(scorecards.review_queue, **filters)
        return result

    async def call_agent(self, call_id: str) -> str | None:
        """The call's agent id ('' for none), None when there is no such call."""
        result: str | None = await self._do(scorecards.call_agent, call_id)
        return result

    # --- corrections (QA-B) -------------------------------------------------------------------
    async def save_correction(self, turn_uid: str, **fields: Any) -> corrections.CorrectionRow:
        """Store the verdict on a caller turn (verdict, misrecognized, said, intent, by)."""
        result: corrections.CorrectionRow = await self._do(corrections.save_correction, turn_uid, commit=True,
                                                           **fields)  # fmt: skip
        return result

    async def delete_correction(self, turn_uid: str) -> bool:
        """Withdraw the verdict on a turn."""
        return bool(await self._do(corrections.delete_correction, turn_uid, commit=True))

    async def list_corrections(self, **filters: Any) -> list[corrections.CorrectionRow]:
        """Verdicts newest first (call_id, turn_uids, flow, version, verdict, pending, since, until, limit)."""
        result: list[corrections.CorrectionRow] = await self._do(corrections.list_corrections, **filters)
        return result

    async def mark_applied(self, turn_uids: list[str], *, flow: str, revision: int, by: str) -> int:
        """Note that these corrections went into the flow's draft."""
        return int(await self._do(corrections.mark_applied, turn_uids, flow=flow, revision=revision, by=by,
                                  commit=True))  # fmt: skip

    async def caller_confirmations(self, **filters: Any) -> list[tuple[str, str, str]]:
        """(turn uid, intent, the caller's answer) for each "Did you say …?" of a flow (flow, version, since, until)."""
        result: list[tuple[str, str, str]] = await self._do(corrections.caller_confirmations, **filters)
        return result

    async def flows_with_corrections(self) -> list[str]:
        """Flows whose calls have verdicts."""
        result: list[str] = await self._do(corrections.flows_with_corrections)
        return result

    # --- reports (QA-B) -----------------------------------------------------------------------
    async def report(self, name: str, **params: Any) -> Any:
        """One of ivr.storage.qa_reports' figures: volume, containment, intents, queues, qa_scores, latency."""
        if name not in qa_reports.REPORTS:
            raise ValueError(f"no report {name!r}")
        return await self._do(getattr(qa_reports, name), **params)
