"""Admins: how long each kind of call data is kept, purging now, and erasing a caller's data on request.

The erasure's audit line names the caller by a keyed hash (HMAC of the number under the console's secret), not in
clear: the log can later prove that a given number was erased without itself keeping the number.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ivr.core.errors import IvrError
from ivr.session.records import apply_retention, retention_defaults
from ivr.storage.call_search import number_of
from ivr.web.api import Api, ApiCall, ApiError
from ivr.web.qa_media import check_file
from recordings import delete_recording

api = Api()
ADMIN = frozenset({"admin"})
KIND = Literal["audio", "transcripts", "slots"]
_WHAT = {"audio": "call recordings (both channels)", "transcripts": "the text of every turn",
         "slots": "slot values the flows collected (order numbers, dates, ...)"}  # fmt: skip


class RetentionKind(BaseModel):
    """One kind of data: days kept (None: forever), and whether that is the admin's setting or the default."""

    kind: KIND
    what: str
    days: int | None
    default_days: int | None
    stored: bool
    updated_by: str
    updated_at: datetime | None


class RetentionOut(BaseModel):
    """Retention of every kind of call data."""

    kinds: list[RetentionKind]


class RetentionChange(BaseModel):
    """Keep `kind` for `days` (null: forever)."""

    kind: KIND
    days: int | None = Field(default=None, ge=1, le=36500)


class PurgeOut(BaseModel):
    """What a purge deleted."""

    recordings: int
    turns: int
    slots: int


class CallerQuery(BaseModel):
    """A caller's number, as they give it."""

    number: str = Field(min_length=3, max_length=64)


class CallerCall(BaseModel):
    """One call of the caller."""

    call_id: str
    caller: str
    started_at: datetime


class CallerOut(BaseModel):
    """The calls stored for a number."""

    number: str
    calls: list[CallerCall]


class EraseBody(BaseModel):
    """Erase a caller: the number, and the count of calls the admin saw (so a new call is never erased unseen)."""

    number: str = Field(min_length=3, max_length=64)
    expect_calls: int = Field(ge=0)


class EraseOut(BaseModel):
    """What the erasure deleted; `reference` is the hash in the audit line."""

    calls: int
    turns: int
    recordings: int
    reference: str


async def _retention(call: ApiCall) -> RetentionOut:
    defaults = retention_defaults(call.ctx.recordings)
    rows = await call.ctx.store.qa.retention(defaults)
    kinds = [
        RetentionKind.model_validate({"kind": r.kind, "what": _WHAT[r.kind], "days": r.days,
                                      "default_days": defaults[r.kind], "stored": r.stored,
                                      "updated_by": r.updated_by, "updated_at": r.updated_at})
        for r in rows
    ]  # fmt: skip
    return RetentionOut(kinds=kinds)


@api.route("GET", "/api/retention", roles=ADMIN, summary="Show retention settings", tag="privacy",
           response=RetentionOut)  # fmt: skip
async def show_retention(call: ApiCall) -> RetentionOut:
    """Days kept per kind of data: audio, transcripts, slots."""
    return await _retention(call)


@api.route("PUT", "/api/retention", roles=ADMIN, summary="Change a retention setting", tag="privacy",
           body=RetentionChange, response=RetentionOut)  # fmt: skip
async def change_retention(call: ApiCall) -> RetentionOut:
    """Keep one kind of data for a number of days (or forever); audited; applies from the next purge."""
    body: RetentionChange = call.body
    try:
        await call.ctx.store.qa.set_retention(body.kind, body.days, by=call.user.username)
    except IvrError as exc:
        raise ApiError(400, str(exc)) from None
    await call.audit("retention.change", body.kind, days=body.days)
    return await _retention(call)


@api.route("POST", "/api/retention/purge", roles=ADMIN, summary="Purge expired data now", tag="privacy",
           response=PurgeOut)  # fmt: skip
async def purge_now(call: ApiCall) -> PurgeOut:
    """Apply the retention settings now instead of waiting for the next scheduled purge; each deletion is audited."""
    report = await apply_retention(call.ctx.store, call.ctx.recordings, call.ctx.root, actor=call.user.username,
                                   role=call.user.role)  # fmt: skip
    return PurgeOut(recordings=report.recordings, turns=report.turns, slots=report.slots)


def _delete(call: ApiCall, stored: str) -> bool:
    """Delete a recording file of an erased call, only ever inside the recordings folder."""
    folder = Path(call.ctx.recordings.dir)
    folder = (folder if folder.is_absolute() else call.ctx.root / folder).resolve()
    try:
        return delete_recording(check_file(stored, folder, call.ctx.root))
    except FileNotFoundError:
        return False


def erasure_reference(call: ApiCall, number: str) -> str:
    """The keyed hash that names an erased number in the audit log."""
    key = call.ctx.links.derive_key("erasure-audit")
    return hmac.new(key, number_of(number).encode(), hashlib.sha256).hexdigest()[:32]


@api.route("GET", "/api/privacy/caller", roles=ADMIN, summary="Find a caller's data by number", tag="privacy",
           query=CallerQuery, response=CallerOut)  # fmt: skip
async def find_caller(call: ApiCall) -> CallerOut:
    """Every stored call of a number (the number's own digits: '+86 138-0000' finds '<sip:+861380000@...>')."""
    number = number_of(call.query.number)
    found = await call.ctx.store.qa.find_caller(number)
    await call.audit("privacy.lookup", "caller:" + erasure_reference(call, number), calls=len(found))
    return CallerOut(number=number, calls=[CallerCall(call_id=c[0], caller=c[1], started_at=c[2]) for c in found])


@api.route("POST", "/api/privacy/erase", roles=ADMIN, summary="Erase a caller's data", tag="privacy",
           body=EraseBody, response=EraseOut)  # fmt: skip
async def erase_caller(call: ApiCall) -> EraseOut:
    """Delete the number's calls, turns, intents, slots, queue events, reviews and recordings; audited by hash."""
    body: EraseBody = call.body
    number = number_of(body.number)
    found = await call.ctx.store.qa.find_caller(number)
    if len(found) != body.expect_calls:
        raise ApiError(409, f"the number now has {len(found)} stored call(s), not {body.expect_calls}; "
                            "look it up again and check the list before erasing")  # fmt: skip
    erased = await call.ctx.store.qa.erase_caller(number)
    deleted = sum(await asyncio.gather(*(asyncio.to_thread(_delete, call, p) for p in erased.recordings)))
    reference = erasure_reference(call, number)
    await call.audit("privacy.erase", "caller:" + reference, calls=erased.calls, turns=erased.turns,
                     recordings=len(erased.recordings), files_deleted=deleted)  # fmt: skip
    return EraseOut(calls=erased.calls, turns=erased.turns, recordings=len(erased.recordings), reference=reference)


api.page("/privacy", "privacy.html", title="Retention and privacy", roles=ADMIN, route=show_retention)
