"""Putting a flow version in front of callers: publish (gated), rollback, A/B, and the versions compared."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from ivr.storage import LiveConflict, LiveState, StorageError
from ivr.web.api import Api, ApiCall, ApiError
from ivr.web.flow_api import flow_name, known_flow
from ivr.web.flow_check import check_source, knowledge_source
from ivr.web.flow_models import (
    EDITORS,
    READERS,
    AbBody,
    LiveBody,
    LiveOut,
    PublishBody,
    StatsOut,
    StatsQuery,
    VersionStatsOut,
)
from ivr.web.flow_try import run_tests

log = logging.getLogger("ivr.web")
api = Api()


async def _apply(call: ApiCall, name: str, state: LiveState, version: int | None = None) -> LiveOut:
    """Have this server's registry load what is now live (new calls get it at once) and say how it went."""
    out = LiveOut(version=version, live=state.live, candidate=state.candidate, share=state.share,
                  revision=state.revision, applied=False)  # fmt: skip
    registry = call.ctx.registry
    if registry is None or registry.name != name:
        return out  # another process serves this flow: its registry polls the revision and follows
    try:
        result = await registry.refresh()
    except Exception as exc:  # the change is stored; the poll retries, so report rather than fail the request
        log.error("flow %s: stored, but this server could not load it yet: %s", name, exc)
        out.error = f"stored, but this server could not load it yet ({exc}); it retries within a second"
        return out
    status = registry.status()
    out.applied = status.revision >= state.revision and status.live == state.live
    if result is not None:
        out.load_seconds, out.prewarm_seconds = round(result.load_seconds, 3), round(result.prewarm_seconds, 3)
        out.error = result.error
    return out


def _conflict(exc: LiveConflict) -> ApiError:
    return ApiError(409, str(exc))


@api.route("POST", "/api/flows/{name}/publish", roles=EDITORS, summary="Publish the flow's draft", tag="flows",
           body=PublishBody, response=LiveOut)  # fmt: skip
async def publish(call: ApiCall) -> LiveOut:
    """Store the saved draft as the next version and make it live, if it validates and its test cases pass."""
    name = flow_name(call)
    state, _ = await known_flow(call, name)
    body: PublishBody = call.body
    live = state.live if state else None
    if live != body.expect_live:  # said before the checks run; store_version checks again, atomically
        who = state.changed_by if state and state.changed_by else "someone"
        raise ApiError(409, f"flow {name!r}: version {live} went live (by {who}) after you opened version "
                            f"{body.expect_live}; reload, compare, and publish again")  # fmt: skip
    console = call.ctx.store.console
    draft = await console.get_draft(name)
    if draft is None:
        raise ApiError(409, "there is no saved draft to publish; save the draft first")
    if draft.revision != body.draft_revision:
        raise ApiError(409, f"{draft.updated_by} saved the draft (revision {draft.revision}) after you checked "
                            f"revision {body.draft_revision}; review their change, then publish again")  # fmt: skip
    kb = await knowledge_source(call.ctx, draft.source)
    checked = await asyncio.to_thread(check_source, name, draft.source, kb)
    if not checked.ok:
        raise ApiError(422, f"the draft has {len(checked.problems)} problem(s); fix them before publishing "
                            f"(first, line {checked.problems[0].line}: {checked.problems[0].message})",
                       problems=[p.model_dump() for p in checked.problems])  # fmt: skip
    tests = await run_tests(call.ctx, name, draft.source)
    if tests.failed or tests.problems:
        first = next((c for c in tests.cases if not c.passed), None)
        raise ApiError(422, f"{tests.failed} of {len(tests.cases)} test case(s) fail; fix the flow or its test "
                            f"cases before publishing" + (f" (first: {first.name}: {first.failure})" if first else ""),
                       failures=[c.model_dump() for c in tests.cases if not c.passed])  # fmt: skip
    again = await console.get_draft(name)  # the tests took a moment: nobody may have saved over it meanwhile
    if again is None or again.revision != draft.revision:
        raise ApiError(409, "the draft changed while its test cases ran; review the change, then publish again")
    try:
        version = await console.store_version(name, draft.source, by=call.user.username, origin="console",
                                              note=body.note, expect_live=body.expect_live)  # fmt: skip
    except LiveConflict as exc:
        raise _conflict(exc) from None
    state = await console.live_state(name)
    assert state is not None
    await call.audit("flow.publish", name, version=version, previous=body.expect_live, note=body.note,
                     tests_passed=tests.passed, draft_revision=draft.revision)  # fmt: skip
    return await _apply(call, name, state, version)


@api.route("POST", "/api/flows/{name}/live", roles=EDITORS, summary="Roll back (or forward) to a version",
           tag="flows", body=LiveBody, response=LiveOut)  # fmt: skip
async def rollback(call: ApiCall) -> LiveOut:
    """Make a stored version live for every new call (ends any A/B test); calls in progress keep theirs."""
    name = flow_name(call)
    body: LiveBody = call.body
    try:
        state = await call.ctx.store.console.set_live_checked(name, body.version, by=call.user.username,
                                                              expect_live=body.expect_live)  # fmt: skip
    except LiveConflict as exc:
        raise _conflict(exc) from None
    except StorageError as exc:
        raise ApiError(404, str(exc)) from None
    await call.audit("flow.rollback", name, version=body.version, previous=body.expect_live)
    return await _apply(call, name, state)


@api.route("PUT", "/api/flows/{name}/ab", roles=EDITORS, summary="Start, change or end an A/B test", tag="flows",
           body=AbBody, response=LiveOut)  # fmt: skip
async def ab_test(call: ApiCall) -> LiveOut:
    """Send a share of new calls to another version; the rest keep the live one. Share 0 or no version ends it."""
    name = flow_name(call)
    body: AbBody = call.body
    console = call.ctx.store.console
    current = await console.live_state(name)
    if current is None or current.live is None:
        raise ApiError(404, f"flow {name!r} has no live version to compare with; publish it first")
    if body.version is not None and body.share > 0:
        if body.version == current.live:
            raise ApiError(400, f"version {body.version} is already live; pick another version for the A/B test")
        if body.share >= 100:
            raise ApiError(400, "an A/B share is below 100%; to send every call to it, make it live instead")
    try:
        state = await console.set_candidate(name, body.version, body.share, by=call.user.username)
    except StorageError as exc:
        raise ApiError(404 if "no version" in str(exc) else 400, str(exc)) from None
    await call.audit("flow.ab", name, version=state.candidate, share=state.share, live=state.live)
    return await _apply(call, name, state)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@api.route("GET", "/api/flows/{name}/stats", roles=READERS, summary="Compare versions on call outcomes",
           tag="flows", query=StatsQuery, response=StatsOut)  # fmt: skip
async def stats(call: ApiCall) -> StatsOut:
    """Per version: containment, transfers, no-match rate and call length of the calls it took."""
    name = flow_name(call)
    state, _ = await known_flow(call, name)
    days = call.query.days
    rows = await call.ctx.store.console.version_stats(name, datetime.now(UTC) - timedelta(days=days))
    live = state.live if state else None
    candidate = state.candidate if state else None
    out = [
        VersionStatsOut(
            version=r.version, live=r.version == live, candidate=r.version == candidate, calls=r.calls,
            answered=r.answered, contained=r.contained, transferred=r.transferred, abandoned=r.abandoned,
            containment=_rate(r.contained, r.answered), transfer_rate=_rate(r.transferred, r.answered),
            no_match_rate=_rate(r.no_match_turns, r.caller_turns), caller_turns=r.caller_turns,
            mean_seconds=r.mean_seconds, median_seconds=r.median_seconds,
        )
        for r in rows
    ]  # fmt: skip
    for version in (live, candidate):
        if version is not None and all(v.version != version for v in out):
            out.append(VersionStatsOut(version=version, live=version == live, candidate=version == candidate,
                                       calls=0, answered=0, contained=0, transferred=0, abandoned=0,
                                       containment=None, transfer_rate=None, no_match_rate=None, caller_turns=0,
                                       mean_seconds=None, median_seconds=None))  # fmt: skip
    out.sort(key=lambda v: (not v.live, not v.candidate, -(v.version or 0)))
    return StatsOut(days=days, versions=out)
