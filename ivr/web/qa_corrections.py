"""Corrections: reviewers' verdicts on caller turns, added to a flow's draft as intent examples; the confusion report.

The verdict sits beside the turn (the stored turn never changes). A supervisor adds chosen
corrections to the flow's shared draft in one click: only the intents' examples lists in the YAML
change, the draft's optimistic lock is respected, and the publish gate checks the result as usual.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from flows.model import FlowValidationError
from flows.slots import yes_no
from flows.yaml_source import read_yaml
from ivr.core.redact import REDACTED_SPEECH
from ivr.storage import DraftConflict, StorageError
from ivr.storage.corrections import CorrectionRow
from ivr.web.api import Api, ApiCall, ApiError
from ivr.web.confusion import NO_INTENT, Verdict, caller_verdicts, confusion, word_errors
from ivr.web.flow_api import flow_name, known_flow
from ivr.web.intent_examples import ExampleEditError, add_examples, normalize
from ivr.web.qa_models import (
    CARD_EDITORS,
    REVIEWERS,
    Applied,
    ApplyBody,
    CallCorrections,
    ConfusionQuery,
    ConfusionReport,
    CorrectionBody,
    CorrectionList,
    CorrectionOut,
    CorrectionQuery,
    IntentChoice,
    SkippedOut,
    Withdrawn,
)
from ivr.web.qa_scores import own_call

api = Api()
_DRAFT_TRIES = 3  # another editor saving between our read and write: re-read and add again


def correction_out(r: CorrectionRow) -> CorrectionOut:
    """The API shape of a stored verdict."""
    return CorrectionOut(turn_uid=r.turn_uid, call_id=r.call_id, verdict=r.verdict, misrecognized=r.misrecognized,
                         said=r.said, intent=r.intent, by=r.by, updated_at=r.updated_at, heard=r.heard,
                         detected=r.detected, intent_score=r.intent_score, confidence=r.confidence,
                         flow_name=r.flow_name, flow_version=r.flow_version, call_started_at=r.call_started_at,
                         applied_flow=r.applied_flow, applied_revision=r.applied_revision, applied_by=r.applied_by,
                         applied_at=r.applied_at, example=r.example)  # fmt: skip


def intents_of(text: str) -> list[IntentChoice]:
    """The intents a flow's YAML defines, with their labels (none when it does not parse)."""
    try:
        data = read_yaml(text, "<flow>").data
    except FlowValidationError:
        return []
    raw = data.get("intents") if isinstance(data, dict) else None
    if not isinstance(raw, dict):
        return []
    return [IntentChoice(name=str(k), label=str(v.get("label", k)) if isinstance(v, dict) else str(k))
            for k, v in raw.items()]  # fmt: skip


async def _flow_text(call: ApiCall, name: str, version: int | None) -> str:
    """A stored version's text, else the live one's, else the flow file's ('' when there is none)."""
    console = call.ctx.store.console
    if name and version is not None:
        text = await console.version_source(name, version)
        if text is not None:
            return text
    state = await console.live_state(name) if name else None
    if state is not None and state.live is not None:
        return await console.version_source(name, state.live) or ""
    from ivr.web.flow_check import flow_files

    path = (await asyncio.to_thread(flow_files, call.ctx.flow_dirs)).get(name)
    return await asyncio.to_thread(path.read_text, encoding="utf-8") if path else ""


@api.route("PUT", "/api/turns/{turn_uid}/correction", roles=REVIEWERS, summary="Correct a caller turn", tag="qa",
           body=CorrectionBody, response=CorrectionOut)  # fmt: skip
async def correct_turn(call: ApiCall) -> CorrectionOut:
    """Mark a caller turn right, or misrecognized with what was really said and meant (the turn itself stays)."""
    uid = call.params["turn_uid"]
    body: CorrectionBody = call.body
    said = " ".join(body.said.split())
    if body.misrecognized and not said:
        raise ApiError(400, "a misrecognized turn needs what the caller really said; type it in")
    try:
        row = await call.ctx.store.qa.save_correction(uid, verdict=body.verdict, misrecognized=body.misrecognized,
                                                      said=said, intent=body.intent.strip(),
                                                      by=call.user.username)  # fmt: skip
    except StorageError as exc:
        raise ApiError(404 if "no turn" in str(exc) else 400, str(exc)) from None
    await call.audit("turn.correct", row.call_id, turn=uid, verdict=row.verdict, intent=row.intent,
                     detected=row.detected, misrecognized=row.misrecognized)  # fmt: skip
    return correction_out(row)


@api.route("DELETE", "/api/turns/{turn_uid}/correction", roles=REVIEWERS, summary="Withdraw a turn's correction",
           tag="qa", response=Withdrawn)  # fmt: skip
async def withdraw_correction(call: ApiCall) -> Withdrawn:
    """Remove the verdict on a turn (the turn itself never changed)."""
    uid = call.params["turn_uid"]
    if not await call.ctx.store.qa.delete_correction(uid):
        raise ApiError(404, "this turn has no correction")
    await call.audit("turn.correct", uid, withdrawn=True)
    return Withdrawn(deleted=uid)


@api.route("GET", "/api/calls/{call_id}/corrections", roles=REVIEWERS, summary="Read a call's corrections",
           tag="qa", response=CallCorrections)  # fmt: skip
async def call_corrections(call: ApiCall) -> CallCorrections:
    """The verdicts on a call's turns and the intents of the call's flow version to pick from."""
    call_id = call.params["call_id"]
    await own_call(call, call_id)
    rows = await call.ctx.store.qa.list_corrections(call_id=call_id)
    detail = await call.ctx.store.call_detail(call_id)
    text = await _flow_text(call, detail.flow_name, detail.flow_version) if detail else ""
    return CallCorrections(call_id=call_id, corrections=[correction_out(r) for r in rows], intents=intents_of(text),
                           can_correct=True)  # fmt: skip


@api.route("GET", "/api/corrections", roles=REVIEWERS, summary="List corrections per flow", tag="qa",
           query=CorrectionQuery, response=CorrectionList)  # fmt: skip
async def list_corrections(call: ApiCall) -> CorrectionList:
    """Corrections of a flow (pending: not yet in a draft), newest first, and the flow's draft revision."""
    q: CorrectionQuery = call.query
    qa = call.ctx.store.qa
    flows = await qa.flows_with_corrections()
    flow = q.flow or (flows[0] if flows else "")
    pending = {"pending": True, "applied": False, "all": None}[q.status]
    rows = await qa.list_corrections(flow=flow or None, version=q.version, pending=pending, limit=q.limit)
    draft = await call.ctx.store.console.get_draft(flow) if flow else None
    return CorrectionList(flow=flow, flows=flows, status=q.status, corrections=[correction_out(r) for r in rows],
                          can_apply=call.user.role in CARD_EDITORS,
                          draft_revision=draft.revision if draft else None)  # fmt: skip


def _usable(r: CorrectionRow) -> str:
    """Why a correction cannot become an example ('' when it can)."""
    if not r.intent:
        return "no intent picked: the caller meant nothing the flow knows"
    if not r.said and (r.heard.startswith("[keys]") or r.heard == REDACTED_SPEECH):
        return "keyed or masked, not spoken words"
    return ""


@api.route("POST", "/api/flows/{name}/corrections/apply", roles=CARD_EDITORS,
           summary="Add corrections to the flow's draft as intent examples", tag="qa", body=ApplyBody,
           response=Applied)  # fmt: skip
async def apply_corrections(call: ApiCall) -> Applied:
    """Append the corrected phrases to their intents' examples in the flow's draft (started from live if none)."""
    name = flow_name(call)
    state, _ = await known_flow(call, name)
    body: ApplyBody = call.body
    qa, console = call.ctx.store.qa, call.ctx.store.console
    order = {uid: i for i, uid in enumerate(body.turn_uids)}
    rows = sorted(await qa.list_corrections(turn_uids=body.turn_uids), key=lambda r: order[r.turn_uid])
    missing = sorted(set(body.turn_uids) - {r.turn_uid for r in rows})
    if missing:
        raise ApiError(404, f"no corrections for turns {missing}; reload the page")
    other = [r.turn_uid for r in rows if r.flow_name != name]
    if other:
        raise ApiError(400, f"turns {other} are from calls of another flow; add them from that flow's page")
    skipped = [SkippedOut(turn_uid=r.turn_uid, intent=r.intent, text=r.example, reason=_usable(r))
               for r in rows if _usable(r)]  # fmt: skip
    usable = [r for r in rows if not _usable(r)]
    for _ in range(_DRAFT_TRIES):
        draft = await console.get_draft(name)
        if draft is not None:
            text, revision, base = draft.source, draft.revision, draft.base_version
        else:
            text, revision, base = await _flow_text(call, name, None), 0, state.live if state else None
        try:
            edit = await asyncio.to_thread(add_examples, text, [(r.intent, r.example) for r in usable])
        except ExampleEditError as exc:
            raise ApiError(400, str(exc)) from None
        if not edit.added:
            saved_revision = draft.revision if draft else None
            break
        try:
            saved = await console.save_draft(name, edit.source, expected_revision=revision, by=call.user.username,
                                             base_version=base)  # fmt: skip
        except DraftConflict:
            continue
        saved_revision = saved.revision
        break
    else:
        raise ApiError(409, "the draft kept changing under us (others are editing it); try again in a moment")
    by_phrase = {(r.intent, normalize(r.example)): r.turn_uid for r in usable}
    done = [by_phrase[(i, normalize(p))] for i, phrases in edit.added.items() for p in phrases]
    for s in edit.skipped:
        uid = by_phrase.get((s.intent, normalize(s.text)), "")
        if s.reason == "already an example":
            done.append(uid)  # it is in the draft: nothing left to add
        skipped.append(SkippedOut(turn_uid=uid, intent=s.intent, text=s.text, reason=s.reason))
    if done and saved_revision is not None:
        await qa.mark_applied(done, flow=name, revision=saved_revision, by=call.user.username)
    await call.audit("corrections.apply", name, added={k: len(v) for k, v in edit.added.items()},
                     skipped=len(skipped), draft_revision=saved_revision)  # fmt: skip
    return Applied(flow=name, added=edit.added, skipped=skipped, draft_revision=saved_revision,
                   base_version=base)  # fmt: skip


@api.route("GET", "/api/corrections/confusion", roles=REVIEWERS, summary="Intent confusion and WER", tag="qa",
           query=ConfusionQuery, response=ConfusionReport)  # fmt: skip
async def confusion_report(call: ApiCall) -> ConfusionReport:
    """Per intent: how often callers meant it, how often it was recognized, what it was taken for; and WER.

    Reviewers' verdicts count, and so do callers' answers to the flow's own "Did you say …?" (unless a reviewer
    judged that turn): yes confirms the intent, no says the caller meant something else.
    """
    q: ConfusionQuery = call.query
    since = datetime(q.since.year, q.since.month, q.since.day, tzinfo=UTC) if q.since else None
    until = datetime(q.until.year, q.until.month, q.until.day, tzinfo=UTC) + timedelta(days=1) if q.until else None
    rows = await call.ctx.store.qa.list_corrections(flow=q.flow or None, version=q.version, since=since, until=until,
                                                    limit=1_000_000)  # fmt: skip
    verdicts = [Verdict(detected=r.detected, meant=r.intent if r.verdict == "corrected" else r.detected,
                        heard=r.heard, said=r.said if r.misrecognized else "") for r in rows]  # fmt: skip
    # every reviewed spoken turn: a turn not marked misrecognized was heard right
    spoken = [Verdict(v.detected, v.meant, v.heard, v.said or v.heard) for v in verdicts
              if v.said or not (v.heard.startswith("[keys]") or v.heard == REDACTED_SPEECH)]  # fmt: skip
    judged = {r.turn_uid for r in rows}
    answers = await call.ctx.store.qa.caller_confirmations(flow=q.flow or None, version=q.version, since=since,
                                                           until=until)  # fmt: skip
    callers = caller_verdicts((intent, yes_no(text)) for uid, intent, text in answers if uid not in judged)
    per_intent = confusion([*verdicts, *callers])
    labels = [c.intent for c in per_intent]
    index = {name: i for i, name in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for v in [*verdicts, *callers]:
        matrix[index[v.meant or NO_INTENT]][index[v.detected or NO_INTENT]] += 1
    confirmed = sum(1 for r in rows if r.verdict == "confirmed")
    said_yes = sum(1 for v in callers if v.meant == v.detected)
    return ConfusionReport(flow=q.flow, version=q.version, verdicts=len(rows), confirmed=confirmed,
                           corrected=len(rows) - confirmed, caller_yes=said_yes, caller_no=len(callers) - said_yes,
                           intents=per_intent, labels=labels, matrix=matrix,
                           wer=word_errors(verdicts), wer_reviewed=word_errors(spoken))  # fmt: skip


api.page("/corrections", "corrections.html", title="Corrections", roles=REVIEWERS, route=list_corrections)
