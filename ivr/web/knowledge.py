"""Supervisors' knowledge bases (FAQ answers): entries, a YAML editor, a question tester, publish and roll back.

A knowledge base is versioned like a flow (kind "knowledge" in the same tables): a shared draft under an
optimistic lock, published versions, one live version. Publishing checks it, stores it, and asks the running
flow registry to load it, which pre-warms every answer before new calls can hear it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from flows import FlowValidationError, load_knowledge_text
from flows.answers import is_question
from flows.intents import IntentClassifier
from flows.knowledge import KnowledgeBase, knowledge_warnings
from flows.model import Intent, Problem
from ivr.storage import DraftConflict, LiveConflict, StorageError
from ivr.web.api import STAFF, Api, ApiCall, ApiError
from ivr.web.flow_models import NAME, READERS, ProblemOut

api = Api()


class EntryOut(BaseModel):
    """One FAQ entry: ways of asking, and the answer the IVR says."""

    id: str
    questions: list[str]
    answer: str
    line: int


class KnowledgeSummary(BaseModel):
    """A knowledge base in the list."""

    name: str
    live: int | None
    versions: int
    changed_by: str
    changed_at: datetime | None
    draft: bool


class KnowledgeList(BaseModel):
    """Every knowledge base."""

    bases: list[KnowledgeSummary]


class VersionOut(BaseModel):
    """One stored version."""

    version: int
    published_by: str
    published_at: datetime
    origin: str
    note: str
    live: bool


class DraftOut(BaseModel):
    """The shared draft and its lock."""

    source: str
    revision: int
    base_version: int | None
    updated_by: str
    updated_at: datetime


class KnowledgeDetail(BaseModel):
    """A knowledge base: its live text, the draft if any, versions, and the entries of what the editor shows."""

    name: str
    title: str
    threshold: float
    live: int | None
    live_source: str
    draft: DraftOut | None
    versions: list[VersionOut]
    entries: list[EntryOut]
    problems: list[ProblemOut]
    in_use_by: str  # the flow that answers from it in this server ("" if none)


class SourceBody(BaseModel):
    """A knowledge base text to check; `warnings` adds the held-out-question check (about 0.4 CPU-s)."""

    source: str = Field(max_length=400_000)
    warnings: bool = False


class KnowledgeCheck(BaseModel):
    """Problems (errors block publishing; warnings do not) and the entries as far as the text parses."""

    ok: bool
    problems: list[ProblemOut]
    entries: list[EntryOut]


class AskBody(BaseModel):
    """A question to try against a knowledge base text."""

    source: str = Field(max_length=400_000)
    question: str = Field(min_length=1, max_length=500)


class Ranked(BaseModel):
    """An entry and the classifier's confidence that the question asks it."""

    entry: str
    confidence: float


class AskResult(BaseModel):
    """What the IVR would do with the question: the answer it would say, or why not."""

    answered: bool
    entry: str
    answer: str
    confidence: float
    threshold: float
    is_question: bool
    ranked: list[Ranked]
    explanation: str


class DraftBody(BaseModel):
    """Save the draft: the text, the revision the editor loaded (0: none), the live version it started from."""

    source: str = Field(max_length=400_000)
    revision: int = Field(ge=0)
    base_version: int | None = None


class PublishBody(BaseModel):
    """Publish a text: the live version the supervisor compared against, and a note."""

    source: str = Field(max_length=400_000)
    expect_live: int | None
    note: str = Field(default="", max_length=500)


class RollbackBody(BaseModel):
    """Make an earlier version live."""

    version: int = Field(ge=1)


class LiveOut(BaseModel):
    """What is live after a change, and whether this server already answers from it."""

    name: str
    live: int | None
    loaded: bool
    message: str


def _problems(problems: list[Problem]) -> list[ProblemOut]:
    return [ProblemOut(line=p.line, message=p.message, fix=p.fix, severity="warning" if p.warning else "error")
            for p in sorted(problems, key=lambda p: p.line)]  # fmt: skip


def _entries(kb: KnowledgeBase) -> list[EntryOut]:
    return [EntryOut(id=e.id, questions=list(e.questions), answer=e.answer, line=e.line) for e in kb.entries.values()]


def _check(name: str, source: str, warnings: bool = True) -> tuple[KnowledgeBase | None, list[Problem]]:
    try:
        kb = load_knowledge_text(source, name)
    except FlowValidationError as exc:
        return None, list(exc.problems)
    problems: list[Problem] = []
    if kb.name != name:
        problems.append(Problem(1, f"this page edits knowledge base '{name}', but the YAML says "
                                   f"'knowledge: {kb.name}'", f"write 'knowledge: {name}'"))  # fmt: skip
    # The warnings cross-validate the classifier: worth it on opening and publishing, not on every keystroke.
    return kb, problems + (knowledge_warnings(kb) if warnings else [])


def _name(call: ApiCall) -> str:
    import re

    name = call.params["name"]
    if not re.match(NAME, name):
        raise ApiError(404, f"no knowledge base {name!r}")
    return name


@api.route("GET", "/api/knowledge", roles=READERS, summary="List knowledge bases", tag="knowledge",
           response=KnowledgeList)  # fmt: skip
async def list_bases(call: ApiCall) -> KnowledgeList:
    """Every knowledge base with its live version."""
    console = call.ctx.store.console
    bases = []
    for s in await console.live_states("knowledge"):
        versions = await console.versions(s.name)
        draft = await console.get_draft(s.name)
        bases.append(KnowledgeSummary(name=s.name, live=s.live, versions=len(versions), changed_by=s.changed_by,
                                      changed_at=s.changed_at, draft=draft is not None))  # fmt: skip
    return KnowledgeList(bases=bases)


@api.route("GET", "/api/knowledge/{name}", roles=READERS, summary="Show a knowledge base", tag="knowledge",
           response=KnowledgeDetail)  # fmt: skip
async def detail(call: ApiCall) -> KnowledgeDetail:
    """Live text, draft, versions, and the entries of the draft (or of the live text)."""
    name = _name(call)
    console = call.ctx.store.console
    state = await console.live_state(name)
    if state is None or state.kind != "knowledge":
        raise ApiError(404, f"no knowledge base {name!r}; `ivr serve` stores the one its flow names at start-up")
    live_source = (await console.version_source(name, state.live) or "") if state.live else ""
    draft = await console.get_draft(name)
    shown = draft.source if draft else live_source
    kb, problems = _check(name, shown)
    registry = call.ctx.registry
    draft_out = None
    if draft is not None:
        draft_out = DraftOut(source=draft.source, revision=draft.revision, base_version=draft.base_version,
                             updated_by=draft.updated_by, updated_at=draft.updated_at)
    versions = [
        VersionOut(version=v.version, published_by=v.published_by, published_at=v.published_at, origin=v.origin,
                   note=v.note, live=v.version == state.live)
        for v in await console.versions(name)
    ]  # fmt: skip
    return KnowledgeDetail(
        name=name,
        title=kb.title if kb else "",
        threshold=kb.threshold if kb else 0.0,
        live=state.live,
        live_source=live_source,
        draft=draft_out,
        versions=versions,
        entries=_entries(kb) if kb else [],
        problems=_problems(problems),
        in_use_by=registry.name if registry is not None and registry.knowledge_name == name else "",
    )


@api.route("POST", "/api/knowledge/{name}/validate", roles=STAFF, summary="Check a knowledge base text",
           tag="knowledge", body=SourceBody, response=KnowledgeCheck)  # fmt: skip
async def validate(call: ApiCall) -> KnowledgeCheck:
    """Problems with their lines (as you type), and the entries as far as the text parses."""
    kb, problems = _check(_name(call), call.body.source, call.body.warnings)
    ok = kb is not None and not any(not p.warning for p in problems)
    return KnowledgeCheck(ok=ok, problems=_problems(problems), entries=_entries(kb) if kb else [])


@api.route("POST", "/api/knowledge/{name}/ask", roles=STAFF, summary="Try a question", tag="knowledge",
           body=AskBody, response=AskResult)  # fmt: skip
async def ask(call: ApiCall) -> AskResult:
    """Rank the entries of a (draft) text for a question, with the classifier the calls use."""
    kb, problems = _check(_name(call), call.body.source, warnings=False)
    if kb is None:
        raise ApiError(400, "fix the knowledge base's problems first: " + "; ".join(
            f"line {p.line}: {p.message}" for p in problems[:3]))  # fmt: skip
    classifier = IntentClassifier({e.intent: Intent(e.intent, e.questions, label=e.id) for e in kb.entries.values()})
    ranked = classifier.classify(call.body.question)
    top = ranked[0] if ranked else None
    entry = kb.entry(top.intent) if top else None
    answered = entry is not None and top is not None and top.confidence >= kb.threshold
    asked = is_question(call.body.question)
    if answered and entry is not None and top is not None:
        why = f"'{entry.id}' matches with {top.confidence:.2f}, at or above the threshold {kb.threshold:.2f}"
    elif top is not None:
        why = (f"the best match '{top.intent[4:]}' has {top.confidence:.2f}, below the threshold {kb.threshold:.2f}: "
               "the caller hears that the IVR cannot help and is offered an agent")  # fmt: skip
    else:
        why = "no entry matches"
    return AskResult(
        answered=answered, entry=entry.id if entry else "", answer=entry.answer if answered and entry else "",
        confidence=top.confidence if top else 0.0, threshold=kb.threshold, is_question=asked,
        ranked=[Ranked(entry=r.intent[4:], confidence=r.confidence) for r in ranked[:5]], explanation=why,
    )  # fmt: skip


@api.route("PUT", "/api/knowledge/{name}/draft", roles=STAFF, summary="Save the draft", tag="knowledge",
           body=DraftBody, response=DraftOut)  # fmt: skip
async def save_draft(call: ApiCall) -> DraftOut:
    """Save without publishing; 409 with the other person's draft if someone saved first (your text stays yours)."""
    name, body = _name(call), call.body
    try:
        d = await call.ctx.store.console.save_draft(name, body.source, expected_revision=body.revision,
                                                    by=call.user.username, base_version=body.base_version,
                                                    kind="knowledge")  # fmt: skip
    except DraftConflict as exc:
        current = exc.current
        raise ApiError(409, str(exc), current_revision=current.revision if current else 0,
                       updated_by=current.updated_by if current else "") from None  # fmt: skip
    await call.audit("knowledge.draft", name, revision=d.revision)
    return DraftOut(source=d.source, revision=d.revision, base_version=d.base_version, updated_by=d.updated_by,
                    updated_at=d.updated_at)  # fmt: skip


async def _reload(call: ApiCall, name: str, live: int | None, what: str) -> LiveOut:
    registry = call.ctx.registry
    if registry is None or registry.knowledge_name != name:
        return LiveOut(name=name, live=live, loaded=False, message=f"{what}; no flow in this server answers from it")
    await registry.refresh()
    loaded = registry.knowledge_version == live
    kept = registry.knowledge_version
    message = (f"{what}; new calls answer from version {live} (answers pre-warmed)" if loaded
               else f"{what}; this server could not load it (see its log) and keeps version {kept}")
    return LiveOut(name=name, live=live, loaded=loaded, message=message)


@api.route("POST", "/api/knowledge/{name}/publish", roles=STAFF, summary="Publish a knowledge base",
           tag="knowledge", body=PublishBody, response=LiveOut)  # fmt: skip
async def publish(call: ApiCall) -> LiveOut:
    """Check, store as the next version, make it live (answers pre-warmed first); 409 if live moved meanwhile."""
    name, body = _name(call), call.body
    kb, problems = _check(name, body.source)
    errors = [p for p in problems if not p.warning]
    if kb is None or errors:
        raise ApiError(400, "not published: " + "; ".join(f"line {p.line}: {p.message}" for p in errors[:5]),
                       problems=[p.model_dump() for p in _problems(errors)])  # fmt: skip
    try:
        version = await call.ctx.store.console.store_version(name, body.source, by=call.user.username,
                                                             origin="console", note=body.note, kind="knowledge",
                                                             expect_live=body.expect_live)  # fmt: skip
    except LiveConflict as exc:
        raise ApiError(409, str(exc)) from None
    await call.audit("knowledge.publish", name, version=version, note=body.note)
    return await _reload(call, name, version, f"version {version} published")


@api.route("POST", "/api/knowledge/{name}/rollback", roles=STAFF, summary="Roll back a knowledge base",
           tag="knowledge", body=RollbackBody, response=LiveOut)  # fmt: skip
async def rollback(call: ApiCall) -> LiveOut:
    """Make an earlier version live again for new calls."""
    name = _name(call)
    try:
        state = await call.ctx.store.console.set_live(name, call.body.version, by=call.user.username)
    except StorageError as exc:
        raise ApiError(404, str(exc)) from None
    await call.audit("knowledge.rollback", name, version=call.body.version)
    return await _reload(call, name, state.live, f"version {call.body.version} is live again")


api.page("/knowledge", "knowledge_list.html", title="Knowledge base", roles=READERS, route=list_bases)
api.page("/knowledge/{name}", "knowledge.html", title="Knowledge base", roles=READERS, route=detail)
