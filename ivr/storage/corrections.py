"""Reviewers' verdicts on caller turns: confirmed, or corrected (what was said, what was meant).

A correction sits beside its turn in turn_corrections; the turn as the recognizer and the flow
stored it is never changed. A supervisor can add corrections to the flow's draft as intent examples,
which marks them applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.storage.errors import StorageError
from ivr.storage.models import Call, Turn, TurnCorrection

VERDICTS = ("confirmed", "corrected")


@dataclass(frozen=True)
class CorrectionRow:
    """A verdict with the turn it judges and that call's flow version."""

    turn_uid: str
    call_id: str
    verdict: str
    misrecognized: bool
    said: str
    intent: str
    by: str
    created_at: datetime
    updated_at: datetime
    applied_flow: str
    applied_revision: int | None
    applied_by: str
    applied_at: datetime | None
    heard: str  # the turn's text as stored
    detected: str  # the intent the flow detected ('' for none)
    intent_score: float | None
    confidence: float | None
    flow_name: str
    flow_version: int | None
    call_started_at: datetime

    @property
    def example(self) -> str:
        """The phrase this verdict teaches: what was really said, else what was heard."""
        return self.said.strip() or self.heard.strip()


def save_correction(
    session: Session, turn_uid: str, *, verdict: str | None, misrecognized: bool, said: str, intent: str, by: str
) -> CorrectionRow:
    """Store (or replace) the verdict on a caller turn; StorageError for an unknown or non-caller turn.

    `verdict` None: 'confirmed' when the reviewer changed nothing (same intent, not misrecognized), else 'corrected'.
    """
    if verdict is not None and verdict not in VERDICTS:
        raise StorageError(f"a verdict is one of {', '.join(VERDICTS)}, not {verdict!r}")
    turn = session.scalar(select(Turn).where(Turn.uid == turn_uid))
    if turn is None:
        raise StorageError(f"there is no turn {turn_uid!r}")
    if turn.speaker != "caller":
        raise StorageError(f"only the caller's turns can be corrected (this one was spoken by the {turn.speaker})")
    if verdict is None:
        verdict = "corrected" if misrecognized or said or intent != turn.intent else "confirmed"
    now = datetime.now(UTC)
    row = session.scalar(select(TurnCorrection).where(TurnCorrection.turn_uid == turn_uid))
    if row is None:
        row = TurnCorrection(turn_uid=turn_uid, call_id=turn.call_id, created_at=now, applied_flow="", applied_by="")
        session.add(row)
    elif row.applied_at is not None and (said != row.said or intent != row.intent):
        # the phrase is in a draft already: a changed verdict is a new one to add
        row.applied_flow, row.applied_revision, row.applied_by, row.applied_at = "", None, "", None
    row.verdict, row.misrecognized, row.said, row.intent = verdict, misrecognized, said, intent
    row.by, row.updated_at = by, now
    session.flush()
    return list_corrections(session, turn_uids=[turn_uid])[0]


def delete_correction(session: Session, turn_uid: str) -> bool:
    """Withdraw the verdict on a turn; True if there was one."""
    row = session.scalar(select(TurnCorrection).where(TurnCorrection.turn_uid == turn_uid))
    if row is None:
        return False
    session.delete(row)
    return True


def list_corrections(
    session: Session, *, call_id: str | None = None, turn_uids: Sequence[str] | None = None, flow: str | None = None,
    version: int | None = None, verdict: str | None = None, pending: bool | None = None,
    since: datetime | None = None, until: datetime | None = None, limit: int = 1000, offset: int = 0,
) -> list[CorrectionRow]:  # fmt: skip
    """Verdicts newest first; `pending` True: corrections not yet added to a draft."""
    q = (
        select(TurnCorrection, Turn, Call.flow_name, Call.flow_version, Call.started_at)
        .join(Turn, Turn.uid == TurnCorrection.turn_uid)
        .join(Call, Call.id == TurnCorrection.call_id)
        .order_by(TurnCorrection.updated_at.desc(), TurnCorrection.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if call_id is not None:
        q = q.where(TurnCorrection.call_id == call_id)
    if turn_uids is not None:
        q = q.where(TurnCorrection.turn_uid.in_(list(turn_uids)))
    if flow:
        q = q.where(Call.flow_name == flow)
    if version is not None:
        q = q.where(Call.flow_version == version)
    if verdict:
        q = q.where(TurnCorrection.verdict == verdict)
    if pending is True:
        q = q.where(TurnCorrection.applied_at.is_(None), TurnCorrection.verdict == "corrected")
    elif pending is False:
        q = q.where(TurnCorrection.applied_at.is_not(None))
    if since is not None:
        q = q.where(Call.started_at >= since)
    if until is not None:
        q = q.where(Call.started_at < until)
    return [
        CorrectionRow(c.turn_uid, c.call_id, c.verdict, c.misrecognized, c.said, c.intent, c.by, c.created_at,
                      c.updated_at, c.applied_flow, c.applied_revision, c.applied_by, c.applied_at, t.text, t.intent,
                      t.intent_score, t.confidence, flow_name, flow_version, started_at)
        for c, t, flow_name, flow_version, started_at in session.execute(q)
    ]  # fmt: skip


def mark_applied(session: Session, turn_uids: Sequence[str], *, flow: str, revision: int, by: str) -> int:
    """Note that these corrections went into `flow`'s draft at `revision`; returns how many were marked."""
    now = datetime.now(UTC)
    rows = session.scalars(select(TurnCorrection).where(TurnCorrection.turn_uid.in_(list(turn_uids)))).all()
    for row in rows:
        row.applied_flow, row.applied_revision, row.applied_by, row.applied_at = flow, revision, by, now
    session.flush()
    return len(rows)


def flows_with_corrections(session: Session) -> list[str]:
    """Names of the flows whose calls have verdicts."""
    q = select(Call.flow_name).join(TurnCorrection, TurnCorrection.call_id == Call.id).distinct()
    return sorted(name for name in session.scalars(q) if name)


# The flow's own read-back of an intent it was unsure of (flows.turns: "Did you say {label}?").
CONFIRM_PROMPT = "Did you say "


def caller_confirmations(
    session: Session, *, flow: str | None = None, version: int | None = None, since: datetime | None = None,
    until: datetime | None = None,
) -> list[tuple[str, str, str]]:  # fmt: skip
    """(turn uid, intent the flow was unsure of, the caller's answer) for each "Did you say …?" the flow asked."""
    asked = select(Turn.call_id).where(Turn.speaker == "ivr", Turn.text.like(f"{CONFIRM_PROMPT}%")).distinct()
    q = select(Call.id).where(Call.id.in_(asked))
    if flow:
        q = q.where(Call.flow_name == flow)
    if version is not None:
        q = q.where(Call.flow_version == version)
    if since is not None:
        q = q.where(Call.started_at >= since)
    if until is not None:
        q = q.where(Call.started_at < until)
    turns = (
        select(Turn.call_id, Turn.uid, Turn.speaker, Turn.text, Turn.intent)
        .where(Turn.call_id.in_(q))
        .order_by(Turn.call_id, Turn.start_offset, Turn.id)
    )
    out: list[tuple[str, str, str]] = []
    rows = session.execute(turns).all()
    for before, prompt, answer in zip(rows, rows[1:], rows[2:], strict=False):
        if (before.call_id == prompt.call_id == answer.call_id and before.speaker == "caller" and before.intent
                and prompt.speaker == "ivr" and prompt.text.startswith(CONFIRM_PROMPT)
                and answer.speaker == "caller"):  # fmt: skip
            out.append((before.uid, before.intent, answer.text))
    return out
