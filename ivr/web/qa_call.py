"""A call's page for QA: turns beside the stereo recording, the path through the flow, slots, queue events.

Recordings are served by their uid from the database, never by a path taken from the URL, and only from inside
the [recordings] folder. Encrypted ones are decrypted here for a user allowed to hear them. Every playback and
download writes an audit line.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from pathlib import Path

import yaml
from aiohttp import web
from pydantic import BaseModel

from ivr.core.errors import IvrError
from ivr.storage.call_review import CallReview, RecordingFile
from ivr.storage.csat import CsatStore
from ivr.web.api import EVERYONE, Api, ApiCall, ApiError
from ivr.web.flow_check import knowledge_source, runner_for
from ivr.web.flow_replay import replay
from ivr.web.flow_try import lookups
from ivr.web.qa_media import audio_response, check_file, decrypted_wav, verify

api = Api()
DOWNLOADERS = frozenset({"admin", "supervisor", "qa"})  # agents may hear their own calls but not take copies away
_UID = re.compile(r"^[0-9a-f]{32}$")
MASK = "••••"


class TurnOut(BaseModel):
    """One turn as the reviewer reads it."""

    uid: str
    speaker: str
    text: str
    confidence: float | None
    start: float | None
    end: float | None
    intent: str
    intent_score: float | None
    masked: bool


class SlotOut(BaseModel):
    """A slot value; masked when the step that took it was sensitive."""

    name: str
    value: str
    masked: bool


class IntentOut(BaseModel):
    """What the flow understood, at which step, with which slots."""

    name: str
    score: float
    step: str
    turn_uid: str | None
    slots: list[SlotOut]


class QueueEventOut(BaseModel):
    """An ACD event of the call."""

    at: datetime
    kind: str
    queue: str
    agent_id: str
    wait_seconds: float | None
    detail: str


class RecordingOut(BaseModel):
    """A recording: where to stream and download it, its checksum, PCI pauses (seconds)."""

    uid: str
    duration_seconds: float
    channels: int
    sample_rate: int
    sha256: str
    size_bytes: int
    encrypted: bool
    status: str
    purged: bool
    pauses: list[tuple[float, float]] | None
    audio_url: str
    verify_url: str
    download_url: str | None


class FlowPath(BaseModel):
    """The steps the call went through, replayed from its inputs on the version it ran; where input was understood."""

    flow: str
    version: int | None
    steps: list[str]
    understood: list[str]
    sensitive_steps: list[str]
    note: str


class DispositionOut(BaseModel):
    """The agent's disposition of the call and notes."""

    disposition: str
    notes: str
    agent_id: str
    by: str
    updated_at: datetime


class SurveyOut(BaseModel):
    """The caller's after-call survey: the score 1-5 (None: no valid answer), how it was given, and the outcome."""

    score: int | None
    method: str
    outcome: str
    agent_id: str
    queue: str
    offered_at: datetime
    answered_at: datetime | None


class CallPage(BaseModel):
    """Everything about one call for its page."""

    call_id: str
    caller: str
    callee: str
    status: str
    outcome: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    hangup_by: str
    end_reason: str
    queue: str
    agent_id: str
    turns: list[TurnOut]
    intents: list[IntentOut]
    queue_events: list[QueueEventOut]
    recordings: list[RecordingOut]
    flow_name: str
    flow_version: int | None
    path_url: str  # the path through the flow: replaying the call takes the flow's runner, so it comes apart
    wrap_up_seconds: float | None  # the agent's after-call work (None: no agent, or no wrap-up recorded)
    can_download: bool
    transcript_url: str | None
    disposition: DispositionOut | None = None  # what the agent wrote after the call (the agent desk)
    survey: SurveyOut | None = None  # the caller's rating of the call (the after-call survey)


class Verified(BaseModel):
    """The recording's SHA-256 recomputed from the file against the one stored when it was closed."""

    uid: str
    state: str  # verified, mismatch, missing, purged, unknown
    expected: str
    actual: str
    message: str


async def may_see(call: ApiCall, agent_id: str) -> None:
    """Agents open only the calls they took (404, so other calls do not even show as existing)."""
    if call.user.role == "agent" and agent_id not in await call.ctx.store.qa.agent_ids_of(call.user.username):
        raise ApiError(404, "no such call among yours; agents can open only the calls they took")


async def _review(call: ApiCall) -> CallReview:
    call_id = call.params["call_id"]
    review = await call.ctx.store.qa.call_review(call_id) if len(call_id) <= 255 else None
    if review is None:
        raise ApiError(404, f"no call {call_id!r}; search for it on the Calls page")
    await may_see(call, review.agent_id)
    return review


async def _recording(call: ApiCall) -> RecordingFile:
    uid = call.params["uid"]
    found = await call.ctx.store.qa.recording_file(uid) if _UID.match(uid) else None
    if found is None:
        raise ApiError(404, "no such recording; open the call's page for its recordings")
    await may_see(call, found.agent_id)
    return found


def _sensitive(source: str) -> tuple[set[str], set[str]]:
    """The sensitive collect steps of a flow version's YAML and the variables they fill (read, not validated)."""
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError:
        return set(), set()
    raw = data.get("steps") if isinstance(data, dict) else None
    steps = {sid: v for sid, v in raw.items() if isinstance(v, dict)} if isinstance(raw, dict) else {}
    secret = {sid for sid, v in steps.items() if v.get("kind") == "collect" and v.get("sensitive") is True}
    return secret, {str(steps[sid]["into"]) for sid in secret if steps[sid].get("into")}


async def _masked_slots(call: ApiCall, review: CallReview) -> tuple[set[str], set[str]]:
    if not review.flow_name or review.flow_version is None:
        return set(), set()
    source = await call.ctx.store.console.version_source(review.flow_name, review.flow_version)
    return _sensitive(source) if source else (set(), set())


async def _path(call: ApiCall, review: CallReview) -> FlowPath:
    understood = [i.step for i in review.intents if i.step]
    empty = FlowPath(flow=review.flow_name, version=review.flow_version, steps=[], understood=understood,
                     sensitive_steps=[], note="")  # fmt: skip
    if not review.flow_name or review.flow_version is None:
        return empty.model_copy(update={"note": "the call has no flow version recorded"})
    source = await call.ctx.store.console.version_source(review.flow_name, review.flow_version)
    if source is None:
        return empty.model_copy(update={"note": f"version {review.flow_version} is not stored"})
    try:
        kb = await knowledge_source(call.ctx, source)
        runner = await asyncio.to_thread(runner_for, review.flow_name, source, kb)
    except IvrError as exc:
        return empty.model_copy(update={"note": f"version {review.flow_version} no longer loads: {exc}"})
    recorded = await call.ctx.store.qa.recorded_call(review.call_id)
    result = await replay(recorded, runner, runner, lookups(call.ctx), review.flow_version)
    path = [s for s in result.before.path if s]
    note = result.note or "replayed from the caller's stored inputs on the version the call ran"
    return FlowPath(flow=review.flow_name, version=review.flow_version, steps=path, understood=understood,
                    sensitive_steps=sorted(_sensitive(source)[0]), note=note)  # fmt: skip


def _recording_out(r: RecordingFile, can_download: bool) -> RecordingOut:
    base = f"/api/recordings/{r.uid}"
    return RecordingOut(
        uid=r.uid, duration_seconds=r.duration_seconds, channels=r.channels, sample_rate=r.sample_rate,
        sha256=r.sha256, size_bytes=r.size_bytes, encrypted=r.encrypted, status=r.status,
        purged=r.purged_at is not None, pauses=r.pauses, audio_url=f"{base}/audio", verify_url=f"{base}/verify",
        download_url=f"{base}/download" if can_download else None,
    )  # fmt: skip


@api.route("GET", "/api/calls/{call_id}", roles=EVERYONE, summary="Open a call for review", tag="qa",
           response=CallPage)  # fmt: skip
async def call_page(call: ApiCall) -> CallPage:
    """Turns, intents with slots (sensitive ones masked), queue events, recordings and the path through the flow."""
    r = await _review(call)
    steps, variables = await _masked_slots(call, r)
    can_download = call.user.role in DOWNLOADERS
    intents = [
        IntentOut(name=i.name, score=i.score, step=i.step, turn_uid=i.turn_uid, slots=[
            SlotOut(name=k, value=MASK if (i.step in steps or k in variables) else v,
                    masked=i.step in steps or k in variables) for k, v in i.slots.items()])
        for i in r.intents
    ]  # fmt: skip
    turns = [
        TurnOut(uid=t.uid, speaker=t.speaker, text=t.text, confidence=t.confidence, start=t.start_offset,
                end=t.end_offset, intent=t.intent, intent_score=t.intent_score, masked=t.text.startswith("[redacted"))
        for t in r.turns
    ]  # fmt: skip
    events = [QueueEventOut(at=e.at, kind=e.kind, queue=e.queue, agent_id=e.agent_id, wait_seconds=e.wait_seconds,
                            detail=e.detail) for e in r.queue_events]  # fmt: skip
    return CallPage(
        call_id=r.call_id, caller=r.caller, callee=r.callee, status=r.status, outcome=r.outcome,
        started_at=r.started_at, answered_at=r.answered_at, ended_at=r.ended_at, duration_seconds=r.duration_seconds,
        hangup_by=r.hangup_by, end_reason=r.end_reason, queue=r.queue, agent_id=r.agent_id, turns=turns,
        intents=intents, queue_events=events, recordings=[_recording_out(x, can_download) for x in r.recordings],
        flow_name=r.flow_name, flow_version=r.flow_version, path_url=f"/api/calls/{r.call_id}/path",
        can_download=can_download,
        wrap_up_seconds=r.wrap_up.seconds if r.wrap_up is not None else None,
        transcript_url=f"/api/calls/{r.call_id}/transcript.txt" if can_download else None,
        disposition=DispositionOut(**vars(d)) if (d := await call.ctx.store.desk.disposition(r.call_id)) else None,
        survey=SurveyOut(**s) if (s := await CsatStore(call.ctx.store).call_survey(r.call_id)) else None,
    )  # fmt: skip


def _recordings_dir(call: ApiCall) -> Path:
    cfg = call.ctx.recordings
    folder = Path(cfg.dir)
    return (folder if folder.is_absolute() else call.ctx.root / folder).resolve()


async def _file_of(call: ApiCall, r: RecordingFile) -> Path:
    if r.purged_at is not None:
        raise ApiError(410, "this recording was deleted by the retention policy")
    try:
        return await asyncio.to_thread(check_file, r.path, _recordings_dir(call), call.ctx.root)
    except FileNotFoundError as exc:
        raise ApiError(404, str(exc)) from None


async def _send(call: ApiCall, *, attachment: bool) -> web.StreamResponse:
    r = await _recording(call)
    path = await _file_of(call, r)
    name = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', r.call_id)[:80]}.wav"
    range_header = call.request.headers.get("Range", "")
    # One audit line per listen, not per byte range: the first request of a playback starts at byte 0.
    if attachment or not range_header or re.match(r"^bytes=0-", range_header):
        await call.audit("recording.download" if attachment else "recording.play", r.call_id, recording=r.uid,
                         encrypted=r.encrypted)  # fmt: skip
    if r.encrypted:
        try:
            data = await asyncio.to_thread(decrypted_wav, path, call.ctx.recordings.encryption_key)
        except IvrError as exc:
            raise ApiError(500, f"cannot decrypt this recording: {exc}") from None
        return audio_response(call.request, data, name=name, attachment=attachment)
    return audio_response(call.request, path, name=name, attachment=attachment)


@api.route("GET", "/api/recordings/{uid}/audio", roles=EVERYONE, summary="Stream a call recording", tag="qa",
           content_type="audio/wav")  # fmt: skip
async def stream_recording(call: ApiCall) -> web.StreamResponse:
    """The stereo WAV (caller left, IVR/agent right), with HTTP Range; decrypted on the server; audited."""
    return await _send(call, attachment=False)


@api.route("GET", "/api/recordings/{uid}/download", roles=DOWNLOADERS, summary="Download a call recording",
           tag="qa", content_type="audio/wav")  # fmt: skip
async def download_recording(call: ApiCall) -> web.StreamResponse:
    """The recording as a WAV attachment (decrypted for an allowed user); audited."""
    return await _send(call, attachment=True)


@api.route("GET", "/api/recordings/{uid}/verify", roles=EVERYONE, summary="Verify a recording's checksum",
           tag="qa", response=Verified)  # fmt: skip
async def verify_recording(call: ApiCall) -> Verified:
    """Recompute the file's SHA-256 and compare it with the one stored when the recording was closed."""
    r = await _recording(call)
    if r.purged_at is not None:
        return Verified(uid=r.uid, state="purged", expected=r.sha256, actual="",
                        message="deleted by the retention policy")  # fmt: skip
    try:
        path = await _file_of(call, r)
    except ApiError as exc:
        return Verified(uid=r.uid, state="missing", expected=r.sha256, actual="", message=exc.message)
    state, actual = await asyncio.to_thread(verify, path, r.sha256)
    message = {"verified": "the file is as it was when the call ended",
               "mismatch": "the file changed after the call ended: it may have been altered or damaged",
               "unknown": "no checksum was stored for this recording"}[state]  # fmt: skip
    return Verified(uid=r.uid, state=state, expected=r.sha256, actual=actual, message=message)


@api.route("GET", "/api/calls/{call_id}/path", roles=EVERYONE, summary="Trace a call's path through its flow",
           tag="qa", response=FlowPath)  # fmt: skip
async def call_path(call: ApiCall) -> FlowPath:
    """The steps the call went through: its stored inputs replayed on the version it ran; where input was understood."""
    return await _path(call, await _review(call))


@api.route("GET", "/api/calls/{call_id}/transcript.txt", roles=DOWNLOADERS, summary="Download a call's transcript",
           tag="qa", content_type="text/plain")  # fmt: skip
async def download_transcript(call: ApiCall) -> web.StreamResponse:
    """The turns as plain text with times, speakers, confidence and intents; audited."""
    r = await _review(call)
    lines = [f"Call {r.call_id} from {r.caller} at {r.started_at.isoformat()} ({r.outcome})", ""]
    for t in r.turns:
        at = "" if t.start_offset is None else f"[{int(t.start_offset // 60):02d}:{t.start_offset % 60:04.1f}] "
        extra = f" (intent {t.intent} {t.intent_score or 0:.2f})" if t.intent else ""
        conf = f" [confidence {t.confidence:.2f}]" if t.confidence is not None else ""
        lines.append(f"{at}{t.speaker}: {t.text}{conf}{extra}")
    await call.audit("transcript.download", r.call_id, turns=len(r.turns))
    name = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', r.call_id)[:80]}.txt"
    return web.Response(
        text="\n".join(lines) + "\n",
        content_type="text/plain",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


api.page("/calls/{call_id}", "call.html", title="Call", roles=EVERYONE, route=call_page)
