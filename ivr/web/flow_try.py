"""Trying a draft before it goes live: the test panel, prompts through the TTS, test cases, replays of calls."""

from __future__ import annotations

import asyncio
import io
import time
import wave
from pathlib import Path

from aiohttp import web

from flows import FlowRunner, FlowValidationError, answer_lookup, demo_sources
from flows.flowtest import run_test_file
from ivr.core.errors import FlowError, IvrError
from ivr.web.api import Api, ApiCall, ApiError
from ivr.web.context import WebContext
from ivr.web.flow_api import flow_name, known_flow
from ivr.web.flow_check import knowledge_source, runner_for, tests_file
from ivr.web.flow_models import (
    EDITORS,
    READERS,
    CaseOut,
    ProblemOut,
    ReplayBody,
    ReplayCall,
    ReplayRun,
    SimBody,
    SimResult,
    SourceBody,
    TestRun,
    TtsQuery,
)
from ivr.web.flow_replay import replay
from ivr.web.flow_sim import Lookup, SimError, TestCall, lookup_with

api = Api()
TTS_RATE = 16000


def _problems(exc: FlowValidationError) -> list[ProblemOut]:
    return [ProblemOut(line=p.line, message=p.message, fix=p.fix) for p in exc.problems]


async def runner_or_422(ctx: WebContext, name: str, source: str) -> FlowRunner:
    """The runner of a source, built off the event loop; 422 listing the problems when it does not validate."""
    kb = await knowledge_source(ctx, source)
    try:
        return await asyncio.to_thread(runner_for, name, source, kb)
    except FlowValidationError as exc:
        raise ApiError(422, f"the flow has {len(exc.problems)} problem(s); fix them first (see the editor)",
                       problems=[p.model_dump() for p in _problems(exc)]) from None  # fmt: skip


def lookups(ctx: WebContext) -> Lookup:
    """Lookups as on real calls: orders from the database, any other source from the demo data."""
    return lookup_with(ctx.store.get_order, lambda request: answer_lookup(request, demo_sources()))


def _run_cases(path: Path, runner: FlowRunner) -> list[CaseOut]:
    try:
        results = run_test_file(path, runner=runner)
    except (FlowValidationError, FlowError, OSError) as exc:
        return [CaseOut(name=f"test file {path.name}", passed=False, failure=str(exc), transcript=[])]
    return [CaseOut(name=r.name, passed=r.passed, failure=r.failure, transcript=r.transcript) for r in results]


async def run_tests(ctx: WebContext, name: str, source: str) -> TestRun:
    """The flow's test cases (*.tests.yaml in the flow folders) against `source`; problems if it does not load."""
    started = time.perf_counter()
    path = await asyncio.to_thread(tests_file, ctx.flow_dirs, name)
    kb = await knowledge_source(ctx, source)
    try:
        runner = await asyncio.to_thread(runner_for, name, source, kb)
    except FlowValidationError as exc:
        return TestRun(file=str(path) if path else None, cases=[], passed=0, failed=0, seconds=0.0,
                       problems=_problems(exc))  # fmt: skip
    cases = await asyncio.to_thread(_run_cases, path, runner) if path else []
    passed = sum(1 for c in cases if c.passed)
    return TestRun(file=str(path) if path else None, cases=cases, passed=passed, failed=len(cases) - passed,
                   seconds=round(time.perf_counter() - started, 3))  # fmt: skip


@api.route("POST", "/api/flows/{name}/simulate", roles=EDITORS, summary="Make a move in a test call",
           tag="flows", body=SimBody, response=SimResult)  # fmt: skip
async def simulate(call: ApiCall) -> SimResult:
    """Start a test call of the editor's text, or say, press keys, stay silent, hang up or answer an HTTP step."""
    name = flow_name(call)
    body: SimBody = call.body
    runner = await runner_or_422(call.ctx, name, body.source)
    talk = TestCall(runner, lookups(call.ctx))
    try:
        if body.action == "start" or body.state is None:
            if body.action != "start":
                raise SimError("start a test call first")
            return talk.result(await talk.start())
        note = talk.resume(body.state)
        if body.action == "say":
            if not body.text.strip():
                raise SimError("type what the caller says, or use 'Stay silent'")
            events = await talk.say(body.text.strip())
        elif body.action == "keys":
            keys = "".join(body.text.split())
            if not keys or any(k not in "0123456789*#" for k in keys):
                raise SimError("keys are 0-9, * and #")
            events = await talk.press(keys)
        elif body.action == "silence":
            events = await talk.silence()
        elif body.action == "hangup":
            events = await talk.hangup()
        else:
            events = await talk.http(body.status, body.body)
    except SimError as exc:
        raise ApiError(400, str(exc)) from None
    except FlowError as exc:
        raise ApiError(400, f"the test call cannot go on ({exc}); start a new one") from None
    return talk.result(events, note)


@api.route("GET", "/api/tts", roles=READERS, summary="Hear a prompt through the product's TTS", tag="flows",
           query=TtsQuery, content_type="audio/wav")  # fmt: skip
async def tts(call: ApiCall) -> web.StreamResponse:
    """The prompt as 16 kHz mono WAV, from the same voice and prompt cache the calls use."""
    if call.ctx.voice is None:
        raise ApiError(503, "this server has no TTS voice loaded (the console runs without `ivr serve`'s speech "
                            "engines); prompts can be heard on a server started with `ivr serve`")  # fmt: skip
    try:
        pcm = await call.ctx.voice.say(call.query.text, TTS_RATE)
    except IvrError as exc:
        raise ApiError(503, f"the TTS could not speak this prompt: {exc}") from None
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(TTS_RATE)
        w.writeframes(pcm)
    return web.Response(
        body=buffer.getvalue(), content_type="audio/wav", headers={"Cache-Control": "private, max-age=300"}
    )


@api.route("POST", "/api/flows/{name}/tests", roles=EDITORS, summary="Run the flow's test cases", tag="flows",
           body=SourceBody, response=TestRun)  # fmt: skip
async def test_cases(call: ApiCall) -> TestRun:
    """Every case of the flow's *.tests.yaml against the editor's text, with pass/fail and the transcript."""
    name = flow_name(call)
    await known_flow(call, name)
    return await run_tests(call.ctx, name, call.body.source)


@api.route("POST", "/api/flows/{name}/replay", roles=EDITORS, summary="Replay recorded calls through a draft",
           tag="flows", body=ReplayBody, response=ReplayRun)  # fmt: skip
async def replay_calls(call: ApiCall) -> ReplayRun:
    """The last N calls' caller inputs through the version each ran and through the draft: what changes."""
    name = flow_name(call)
    started = time.perf_counter()
    body: ReplayBody = call.body
    draft = await runner_or_422(call.ctx, name, body.source)
    kb = await knowledge_source(call.ctx, body.source)
    console = call.ctx.store.console
    state = await console.live_state(name)
    recorded = await console.recent_calls(name, body.limit)
    runners: dict[int | None, FlowRunner | None] = {}
    out: list[ReplayCall] = []
    skipped: list[str] = []
    lookup = lookups(call.ctx)
    for rc in recorded:
        version = rc.flow_version if rc.flow_version is not None else (state.live if state else None)
        if version not in runners:
            source = await console.version_source(name, version) if version is not None else None
            try:
                # The knowledge base new calls answer from, for both: a difference is the flow's change alone.
                runners[version] = await asyncio.to_thread(runner_for, name, source, kb) if source else None
            except FlowValidationError:
                runners[version] = None  # a stored version that no longer loads (validator got stricter)
        before = runners[version]
        if before is None:
            skipped.append(f"call {rc.call_id}: version {version} is not stored or no longer loads")
            continue
        out.append(await replay(rc, before, draft, lookup, version))
    took = round(time.perf_counter() - started, 3)
    return ReplayRun(calls=out, changed=sum(1 for c in out if c.changed), seconds=took, skipped=skipped)
