"""Full-text search of transcripts: FTS5 on SQLite, tsvector on PostgreSQL, one API."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from ivr.storage.models import UtcDateTime

_TERM = re.compile(r"(\w+)(\*?)", re.UNICODE)


@dataclass(frozen=True)
class TurnHit:
    """One transcript turn matching a search, best first."""

    call_id: str
    turn_uid: str
    speaker: str
    text: str
    start_offset: float | None
    end_offset: float | None
    created_at: datetime
    rank: float


def _terms(query: str) -> list[tuple[str, bool]]:
    return [(m.group(1).lower(), bool(m.group(2))) for m in _TERM.finditer(query)]


def search_turns(
    session: Session, query: str, *, limit: int = 50, speaker: str | None = None, call_id: str | None = None
) -> list[TurnHit]:
    """Turns containing every word of `query` (stemmed; a trailing * matches a prefix)."""
    terms = _terms(query)
    if not terms:
        return []
    params: dict[str, object] = {"limit": limit}
    filters = ""
    if speaker:
        filters += " AND t.speaker = :speaker"
        params["speaker"] = speaker
    if call_id:
        filters += " AND t.call_id = :call_id"
        params["call_id"] = call_id
    if session.get_bind().dialect.name == "postgresql":
        params["q"] = " & ".join(f"{word}:*" if prefix else word for word, prefix in terms)
        sql = (
            "SELECT t.call_id, t.uid, t.speaker, t.text, t.start_offset, t.end_offset, t.created_at, "
            "ts_rank(t.tsv, q) AS rank FROM turns t, to_tsquery('english', :q) q "
            f"WHERE t.tsv @@ q{filters} ORDER BY rank DESC, t.id LIMIT :limit"
        )
    else:
        # Each word is quoted so FTS5 operators typed by a user (AND, NEAR, ^) stay plain words.
        params["q"] = " ".join(f'"{word}"*' if prefix else f'"{word}"' for word, prefix in terms)
        sql = (
            "SELECT t.call_id, t.uid, t.speaker, t.text, t.start_offset, t.end_offset, t.created_at, "
            "-bm25(turns_fts) AS rank FROM turns_fts JOIN turns t ON t.id = turns_fts.rowid "
            f"WHERE turns_fts MATCH :q{filters} ORDER BY bm25(turns_fts), t.id LIMIT :limit"
        )
    rows = session.execute(text(sql).columns(created_at=UtcDateTime), params).all()
    return [
        TurnHit(
            call_id=r[0],
            turn_uid=r[1],
            speaker=r[2],
            text=r[3],
            start_offset=r[4],
            end_offset=r[5],
            created_at=r[6],
            rank=float(r[7]),
        )
        for r in rows
    ]
