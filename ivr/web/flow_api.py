"""Flows for supervisors: the list, one flow's versions and draft, its graph, live validation and step forms."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from ivr.storage import DraftConflict, StorageError, VersionInfo
from ivr.storage.flowstore import Draft, LiveState
from ivr.web.api import Api, ApiCall, ApiError
from ivr.web.flow_check import check_source, flow_files, knowledge_source, tests_file
from ivr.web.flow_models import (
    EDITORS,
    NAME,
    READERS,
    Checked,
    DiscardBody,
    DraftBody,
    DraftOut,
    Edited,
    FlowDetail,
    FlowList,
    FlowSummary,
    GraphQuery,
    ServingOut,
    SourceBody,
    StepEdit,
    VersionOut,
    VersionSource,
)
from ivr.web.flow_yaml import FORMS, StepEditError, edit_step

api = Api()


def flow_name(call: ApiCall) -> str:
    """The flow named in the path (404 for a name no flow can have)."""
    name = call.params["name"]
    if not re.match(NAME, name) or len(name) > 128:
        raise ApiError(404, f"no flow {name!r}: flow names are letters, digits, '_' and '-'")
    return name


def _versions(infos: list[VersionInfo], state: LiveState | None) -> list[VersionOut]:
    live = state.live if state else None
    candidate = state.candidate if state else None
    return [
        VersionOut(version=v.version, published_by=v.published_by, published_at=v.published_at, origin=v.origin,
                   note=v.note, sha256=v.sha256, live=v.version == live, candidate=v.version == candidate)
        for v in infos
    ]  # fmt: skip


def _draft(d: Draft | None, with_source: bool) -> DraftOut | None:
    if d is None:
        return None
    return DraftOut(revision=d.revision, base_version=d.base_version, updated_by=d.updated_by, updated_at=d.updated_at,
                    source=d.source if with_source else None)  # fmt: skip


async def known_flow(call: ApiCall, name: str) -> tuple[LiveState | None, Path | None]:
    """The flow's live pointers and its file; 404 when it is neither stored nor a file in the flow folders."""
    state = await call.ctx.store.console.live_state(name)
    files = await asyncio.to_thread(flow_files, call.ctx.flow_dirs)
    path = files.get(name)
    if state is None and path is None:
        raise ApiError(404, f"no flow {name!r}; put its YAML in a flow folder or publish it with `ivr flows publish`")
    return state, path


@api.route("GET", "/api/flows", roles=READERS, summary="List flows with their versions", tag="flows",
           response=FlowList)  # fmt: skip
async def list_flows(call: ApiCall) -> FlowList:
    """Every flow: its versions (who published each, when, from where), what is live, A/B, and any draft."""
    console = call.ctx.store.console
    out: list[FlowSummary] = []
    files = await asyncio.to_thread(flow_files, call.ctx.flow_dirs)
    for state in await console.live_states("flow"):
        versions = _versions(await console.versions(state.name), state)
        draft = _draft(await console.get_draft(state.name), False)
        path = files.get(state.name)
        out.append(FlowSummary(name=state.name, stored=True, live=state.live, candidate=state.candidate,
                               share=state.share, versions=versions, draft=draft,
                               file=str(path) if path else None))  # fmt: skip
    stored = {f.name for f in out}
    for name, path in sorted(files.items()):
        if name not in stored:
            out.append(FlowSummary(name=name, stored=False, live=None, candidate=None, share=0, versions=[],
                                   draft=None, file=str(path)))  # fmt: skip
    return FlowList(flows=out, can_edit=call.user.role in EDITORS)


@api.route("GET", "/api/flows/{name}", roles=READERS, summary="Show a flow: versions, live, draft", tag="flows",
           response=FlowDetail)  # fmt: skip
async def flow_detail(call: ApiCall) -> FlowDetail:
    """One flow: versions, live and A/B pointers, the draft, and the text the editor starts from."""
    return await _detail(call)


async def _detail(call: ApiCall) -> FlowDetail:
    name = flow_name(call)
    console = call.ctx.store.console
    state, path = await known_flow(call, name)
    can_edit = call.user.role in EDITORS
    versions = await console.versions(name) if state else []
    draft = await console.get_draft(name) if state and can_edit else None
    live_source = await console.version_source(name, state.live) if state and state.live else None
    file_text = await asyncio.to_thread(path.read_text, encoding="utf-8") if path and live_source is None else None
    editor = draft.source if draft else live_source if live_source is not None else file_text or ""
    registry = call.ctx.registry
    serving = None
    if registry is not None and registry.name == name:
        s = registry.status()
        serving = ServingOut(live=s.live, candidate=s.candidate, share=s.share, loaded_at=s.loaded_at,
                             last_prewarm_seconds=s.last_prewarm_seconds)  # fmt: skip
    tests = await asyncio.to_thread(tests_file, call.ctx.flow_dirs, name)
    return FlowDetail(
        name=name, stored=state is not None, live=state.live if state else None,
        candidate=state.candidate if state else None, share=state.share if state else 0,
        changed_at=state.changed_at if state else None, changed_by=state.changed_by if state else "",
        versions=_versions(versions, state), draft=_draft(draft, True), live_source=live_source,
        editor_source=editor, base_version=draft.base_version if draft else (state.live if state else None),
        file=str(path) if path else None, tests_file=str(tests) if tests else None, can_edit=can_edit,
        serving=serving, form=FORMS,
    )  # fmt: skip


def _version(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ApiError(404, f"{raw!r} is not a version number") from None


@api.route("GET", "/api/flows/{name}/versions/{version}", roles=READERS, summary="Show a version's YAML",
           tag="flows", response=VersionSource)  # fmt: skip
async def version_source(call: ApiCall) -> VersionSource:
    """The stored text of one version, for diffs and rollbacks."""
    name = flow_name(call)
    version = _version(call.params["version"])
    console = call.ctx.store.console
    info = next((v for v in await console.versions(name) if v.version == version), None)
    source = await console.version_source(name, version) if info else None
    if info is None or source is None:
        raise ApiError(404, f"flow {name!r} has no version {version}; see its version list")
    return VersionSource(version=version, source=source, published_by=info.published_by,
                         published_at=info.published_at, origin=info.origin, note=info.note)  # fmt: skip


@api.route("GET", "/api/flows/{name}/graph", roles=READERS, summary="Draw a version of a flow as a graph",
           tag="flows", query=GraphQuery, response=Checked)  # fmt: skip
async def flow_graph(call: ApiCall) -> Checked:
    """Steps and transitions of a stored version (default: the live one; the flow file if none is stored)."""
    name = flow_name(call)
    state, path = await known_flow(call, name)
    version = call.query.version if call.query.version is not None else (state.live if state else None)
    if version is not None:
        source = await call.ctx.store.console.version_source(name, version)
        if source is None:
            raise ApiError(404, f"flow {name!r} has no version {version}")
    elif path is not None:
        source = await asyncio.to_thread(path.read_text, encoding="utf-8")
    else:
        raise ApiError(404, f"flow {name!r} has no live version yet")
    kb = await knowledge_source(call.ctx, source)
    return await asyncio.to_thread(check_source, name, source, kb)


@api.route("POST", "/api/flows/{name}/validate", roles=EDITORS, summary="Validate flow YAML", tag="flows",
           body=SourceBody, response=Checked)  # fmt: skip
async def validate(call: ApiCall) -> Checked:
    """Problems with their lines as the supervisor types, plus the graph and step forms of the text."""
    kb = await knowledge_source(call.ctx, call.body.source)
    return await asyncio.to_thread(check_source, flow_name(call), call.body.source, kb)


@api.route("POST", "/api/flows/{name}/edit-step", roles=EDITORS, summary="Apply a step form to flow YAML",
           tag="flows", body=StepEdit, response=Edited)  # fmt: skip
async def apply_step_form(call: ApiCall) -> Edited:
    """The YAML with one step rewritten from its form (or added, or deleted); nothing is stored."""
    flow_name(call)
    body: StepEdit = call.body
    try:
        source, line = await asyncio.to_thread(edit_step, body.source, body.step, body.kind, body.fields, body.extra)
    except StepEditError as exc:
        raise ApiError(400, str(exc)) from None
    return Edited(source=source, step=body.step, line=line)


@api.route("PUT", "/api/flows/{name}/draft", roles=EDITORS, summary="Save the flow's draft", tag="flows",
           body=DraftBody, response=DraftOut)  # fmt: skip
async def save_draft(call: ApiCall) -> DraftOut:
    """Save the shared draft (kept even when it does not validate); 409 if someone saved since you loaded it."""
    name = flow_name(call)
    await known_flow(call, name)
    body: DraftBody = call.body
    try:
        draft = await call.ctx.store.console.save_draft(
            name, body.source, expected_revision=body.revision, by=call.user.username, base_version=body.base_version
        )
    except DraftConflict as exc:
        current = _draft(exc.current, True)
        if current is None:  # a publish (console, CLI, or a changed flow file at start-up) ended the draft
            raise ApiError(409, "the draft was published or discarded by someone else since you opened it; your "
                                "text is kept in the editor: copy it, reload to see what is live, and save again",
                           current=None) from None  # fmt: skip
        raise ApiError(409, str(exc), current=current.model_dump(mode="json")) from None
    except StorageError as exc:
        raise ApiError(400, str(exc)) from None  # fmt: skip
    await call.audit("flow.draft", name, revision=draft.revision, base_version=body.base_version)
    out = _draft(draft, False)
    assert out is not None
    return out


@api.route("DELETE", "/api/flows/{name}/draft", roles=EDITORS, summary="Discard the flow's draft", tag="flows",
           body=DiscardBody, response=FlowDetail)  # fmt: skip
async def discard_draft(call: ApiCall) -> FlowDetail:
    """Throw the draft away (if nobody saved it since you loaded it); the editor goes back to the live version."""
    name = flow_name(call)
    console = call.ctx.store.console
    draft = await console.get_draft(name)
    if draft is None:
        raise ApiError(404, "there is no draft to discard")
    if draft.revision != call.body.revision:
        raise ApiError(409, f"{draft.updated_by} saved the draft (revision {draft.revision}) after you opened "
                            f"revision {call.body.revision}; reload before discarding it")  # fmt: skip
    await console.discard_draft(name)
    await call.audit("flow.draft", name, discarded=draft.revision)
    return await _detail(call)


api.page("/flows", "flows.html", title="Flows", roles=READERS, route=list_flows)
api.page("/flows/{name}", "flow.html", title="Flow", roles=READERS, route=flow_detail)
