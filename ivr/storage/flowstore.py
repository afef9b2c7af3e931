"""Flow lifecycle rows: versions, what is live (and the A/B candidate), the shared draft with its lock."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.storage.errors import StorageError
from ivr.storage.models import Flow, FlowDraft, FlowVersion

KINDS = ("flow", "knowledge")


@dataclass(frozen=True)
class VersionInfo:
    """One stored version of a flow, without its source."""

    version: int
    sha256: str
    published_by: str
    published_at: datetime
    origin: str
    note: str


@dataclass(frozen=True)
class LiveState:
    """What new calls get: `live`, or `candidate` for `share` percent of them."""

    name: str
    kind: str
    live: int | None
    candidate: int | None
    share: int
    revision: int
    changed_at: datetime | None
    changed_by: str


@dataclass(frozen=True)
class Draft:
    """The shared draft of a flow; `revision` must match to overwrite it."""

    name: str
    source: str
    revision: int
    base_version: int | None
    updated_by: str
    updated_at: datetime


class DraftConflict(StorageError):
    """Someone else saved the draft (or published) since this editor loaded it."""

    def __init__(self, message: str, current: Draft | None) -> None:
        super().__init__(message)
        self.current = current


class LiveConflict(StorageError):
    """The live version changed since the publisher looked at it."""


def _flow(session: Session, name: str, *, lock: bool = False) -> Flow | None:
    q = select(Flow).where(Flow.name == name)
    return session.scalar(q.with_for_update() if lock else q)


def _ensure_flow(session: Session, name: str, kind: str) -> Flow:
    if kind not in KINDS:
        raise StorageError(f"unknown flow kind {kind!r}; use one of {', '.join(KINDS)}")
    flow = _flow(session, name, lock=True)
    if flow is None:
        flow = Flow(name=name, kind=kind, created_at=datetime.now(UTC), candidate_share=0, live_revision=0)
        session.add(flow)
        session.flush()
    return flow


def live_state(session: Session, name: str) -> LiveState | None:
    """The live pointers of one flow, None if it was never stored."""
    f = _flow(session, name)
    if f is None:
        return None
    return _state(f)


def live_states(session: Session, kind: str | None = None) -> list[LiveState]:
    """Live pointers of every flow (of one kind), by name."""
    q = select(Flow).order_by(Flow.name)
    if kind is not None:
        q = q.where(Flow.kind == kind)
    return [_state(f) for f in session.scalars(q)]


def _state(f: Flow) -> LiveState:
    return LiveState(
        f.name, f.kind, f.live_version, f.candidate_version, f.candidate_share,
        f.live_revision, f.live_changed_at, f.live_changed_by,
    )  # fmt: skip


def live_revisions(session: Session) -> dict[str, int]:
    """Every flow's live revision: the cheap query a running server polls to notice a publish."""
    return {name: rev for name, rev in session.execute(select(Flow.name, Flow.live_revision))}


def versions(session: Session, name: str) -> list[VersionInfo]:
    """Every version of a flow, newest first."""
    q = (
        select(FlowVersion)
        .join(Flow, Flow.id == FlowVersion.flow_id)
        .where(Flow.name == name)
        .order_by(FlowVersion.version.desc())
    )
    return [
        VersionInfo(v.version, v.sha256, v.published_by, v.published_at, v.origin, v.note) for v in session.scalars(q)
    ]


def version_source(session: Session, name: str, version: int) -> str | None:
    """The source text of one version."""
    q = (
        select(FlowVersion.source)
        .join(Flow, Flow.id == FlowVersion.flow_id)
        .where(Flow.name == name, FlowVersion.version == version)
    )
    return session.scalar(q)


def last_from_origin(session: Session, name: str, origin: str) -> VersionInfo | None:
    """The newest version of a flow that came from `origin` (e.g. the flow file `ivr serve` starts with)."""
    q = (
        select(FlowVersion)
        .join(Flow, Flow.id == FlowVersion.flow_id)
        .where(Flow.name == name, FlowVersion.origin == origin)
        .order_by(FlowVersion.version.desc())
        .limit(1)
    )
    v = session.scalar(q)
    return None if v is None else VersionInfo(v.version, v.sha256, v.published_by, v.published_at, v.origin, v.note)


def store_version(
    session: Session,
    name: str,
    source: str,
    *,
    by: str,
    origin: str,
    note: str = "",
    kind: str = "flow",
    make_live: bool = True,
    expect_live: int | str | None = "any",
) -> int:
    """Store `source` as the next version of `name` and (by default) make it live; returns the version.

    `expect_live` is the live version the publisher saw; if it changed meanwhile, LiveConflict.
    Publishing ends any A/B test of the flow and removes its draft.
    """
    flow = _ensure_flow(session, name, kind)
    if expect_live != "any" and flow.live_version != expect_live:
        raise LiveConflict(
            f"flow {name!r}: version {flow.live_version} went live (by {flow.live_changed_by or 'someone'}) "
            f"after you opened version {expect_live}; reload, compare, and publish again"
        )
    latest = session.scalar(select(func.max(FlowVersion.version)).where(FlowVersion.flow_id == flow.id))
    version = int(latest or 0) + 1
    now = datetime.now(UTC)
    session.add(
        FlowVersion(
            flow_id=flow.id,
            version=version,
            source=source,
            format="yaml",
            sha256=hashlib.sha256(source.encode()).hexdigest(),
            published_by=by,
            published_at=now,
            origin=origin,
            note=note,
        )
    )
    if make_live:
        _point(flow, version, None, 0, by, now)
        draft = session.scalar(select(FlowDraft).where(FlowDraft.flow_id == flow.id))
        if draft is not None:
            session.delete(draft)
    session.flush()
    return version


def set_live(session: Session, name: str, version: int, *, by: str) -> LiveState:
    """Make an existing version live for every new call (rollback or roll forward); ends any A/B test."""
    flow = _flow(session, name, lock=True)
    if flow is None or version_source(session, name, version) is None:
        raise StorageError(f"flow {name!r} has no version {version}; pick one from its version list")
    _point(flow, version, None, 0, by, datetime.now(UTC))
    session.flush()
    result = live_state(session, name)
    assert result is not None
    return result


def set_candidate(session: Session, name: str, version: int | None, share: int, *, by: str) -> LiveState:
    """Send `share` percent of new calls to `version` (A/B); None or share 0 ends the test."""
    flow = _flow(session, name, lock=True)
    if flow is None:
        raise StorageError(f"no flow {name!r}")
    if version is not None and version_source(session, name, version) is None:
        raise StorageError(f"flow {name!r} has no version {version}")
    if not 0 <= share <= 100:
        raise StorageError(f"an A/B share is a percentage from 0 to 100, not {share}")
    if version is None or share == 0:
        version, share = None, 0
    _point(flow, flow.live_version, version, share, by, datetime.now(UTC))
    session.flush()
    result = live_state(session, name)
    assert result is not None
    return result


def _point(flow: Flow, live: int | None, candidate: int | None, share: int, by: str, now: datetime) -> None:
    flow.live_version, flow.candidate_version, flow.candidate_share = live, candidate, share
    flow.live_revision = (flow.live_revision or 0) + 1
    flow.live_changed_at, flow.live_changed_by = now, by


def get_draft(session: Session, name: str) -> Draft | None:
    """The shared draft of a flow, None when there is none (the editor then starts from the live version)."""
    q = select(FlowDraft).join(Flow, Flow.id == FlowDraft.flow_id).where(Flow.name == name)
    d = session.scalar(q)
    return None if d is None else Draft(name, d.source, d.revision, d.base_version, d.updated_by, d.updated_at)


def save_draft(
    session: Session, name: str, source: str, *, expected_revision: int, by: str, base_version: int | None,
    kind: str = "flow",
) -> Draft:  # fmt: skip
    """Overwrite the draft if nobody saved since `expected_revision` (0: there was no draft); else DraftConflict."""
    flow = _ensure_flow(session, name, kind)
    draft = session.scalar(select(FlowDraft).where(FlowDraft.flow_id == flow.id).with_for_update())
    current = 0 if draft is None else draft.revision
    if current != expected_revision:
        assert draft is not None or expected_revision != 0
        theirs = get_draft(session, name)
        who = theirs.updated_by if theirs else "someone"
        raise DraftConflict(
            f"{who} saved this draft (revision {current}) after you opened revision {expected_revision}; "
            "your text is kept in the editor: copy your change, reload, and apply it again",
            theirs,
        )
    now = datetime.now(UTC)
    if draft is None:
        draft = FlowDraft(flow_id=flow.id, source=source, revision=1, base_version=base_version,
                          updated_by=by, updated_at=now)  # fmt: skip
        session.add(draft)
    else:
        draft.source, draft.revision, draft.base_version = source, draft.revision + 1, base_version
        draft.updated_by, draft.updated_at = by, now
    session.flush()
    return Draft(name, draft.source, draft.revision, draft.base_version, draft.updated_by, draft.updated_at)


def discard_draft(session: Session, name: str) -> bool:
    """Delete the draft of a flow; True if there was one."""
    q = select(FlowDraft).join(Flow, Flow.id == FlowDraft.flow_id).where(Flow.name == name)
    d = session.scalar(q)
    if d is None:
        return False
    session.delete(d)
    return True
