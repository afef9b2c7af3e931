"""The QA console's search, call page, recordings, retention and erasure through the real app over SQLite."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import math
import re
import struct
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ivr.core.config import RecordingsConfig
from ivr.web.context import CONTEXT
from recordings.crypto import EncryptedWriter
from tests.console import Console, console_app

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = bytes(range(32))
RATE = 8000


def _pcm(seconds: float) -> bytes:
    """Stereo PCM16: a 440 Hz tone on the left (caller), 660 Hz on the right (IVR)."""
    frames = []
    for n in range(int(seconds * RATE)):
        left = int(8000 * math.sin(2 * math.pi * 440 * n / RATE))
        right = int(8000 * math.sin(2 * math.pi * 660 * n / RATE))
        frames.append(struct.pack("<hh", left, right))
    return b"".join(frames)


def _wav(path: Path, seconds: float) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(_pcm(seconds))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _encrypted(path: Path, seconds: float) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    w = EncryptedWriter(path, RATE, 2, KEY)
    w.write(_pcm(seconds))
    w.flush()
    w.close()
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
async def console(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Console]:
    async for c in console_app(tmp_path, aiohttp_client):
        ctx = c.app[CONTEXT]
        ctx.recordings = RecordingsConfig(dir="var/recordings", encryption_key=base64.b64encode(KEY).decode(),
                                          retention_days=90)  # fmt: skip
        _seed(c, tmp_path / "var" / "recordings")
        assert await c.store.flush(10)
        yield c


def _call(c: Console, cid: str, minute: int, seconds: float, status: str, caller: str, **kw: Any) -> None:
    s = c.store
    start = (T0 + timedelta(minutes=minute)).timestamp()
    s.call_started(cid, caller=caller, flow_name="acme_retail", flow_version=1, at=start)
    s.call_answered(cid, at=start)
    if kw.get("queue") or kw.get("agent"):
        s.call_updated(cid, queue=kw.get("queue", ""), agent_id=kw.get("agent", ""))
    s.add_turn(cid, "ivr", "Welcome to Acme. How can I help?", start=0.0, end=2.0, at=start)
    uid = s.add_turn(cid, "caller", kw.get("said", "where is my order"), confidence=0.91, start=2.5, end=4.0,
                     intent=kw.get("intent", "order_status"), intent_score=0.87, at=start + 3)  # fmt: skip
    s.add_intent(cid, kw.get("intent", "order_status"), 0.87, turn_uid=uid, step="main_menu",
                 slots={"order_number": "4711"}, at=start + 3)  # fmt: skip
    s.add_turn(cid, "ivr", "Your order has shipped.", start=4.5, end=6.0, at=start + 4)
    s.call_ended(cid, status, at=start + seconds)


def _seed(c: Console, folder: Path) -> None:
    _call(c, "c-refund", 0, 8, "completed", "<sip:+8613800001111@127.0.0.1>", said="I want a refund please",
          intent="refund", queue="billing", agent="agent")  # fmt: skip
    _call(c, "c-order", 5, 6, "completed", "<sip:2002@127.0.0.1>")
    _call(c, "c-other-agent", 10, 30, "completed", "<sip:3003@127.0.0.1>", queue="billing", agent="a9",
          said="refund for my shoes", intent="refund")  # fmt: skip
    plain = folder / "2026/03/02/c-refund.wav"
    c.store.add_recording("c-refund", str(plain), duration=8.0, channels=2, sample_rate=RATE, sha256=_wav(plain, 8.0),
                          pauses=[(5.0, 6.0)])  # fmt: skip
    secret = folder / "2026/03/02/c-order.wav.enc"
    c.store.add_recording("c-order", str(secret), duration=6.0, channels=2, sample_rate=RATE,
                          sha256=_encrypted(secret, 6.0), encrypted=True)  # fmt: skip
    outside = folder.parent / "not-recordings" / "x.wav"
    c.store.add_recording("c-other-agent", str(outside), duration=1.0, sha256=_wav(outside, 1.0))


async def _uid(c: Console, call_id: str) -> str:
    review = await c.store.qa.call_review(call_id)
    assert review is not None
    return review.recordings[0].uid


async def _audit(c: Console, action: str) -> list[Any]:
    lines, _ = await c.store.console.list_audit(action=action)
    return lines


async def test_search_by_text_filters_sort_and_paging(console: Console) -> None:
    qa = await console.client("qa")
    r = await qa.get("/api/calls", params={"text": "refund"})
    assert r.status == 200
    body = await r.json()
    assert [x["call_id"] for x in body["calls"]] == ["c-other-agent", "c-refund"]
    assert body["calls"][1]["snippet"] == "I want a refund please" and body["total"] == 2
    assert body["calls"][1]["outcome"] == "transferred" and body["calls"][1]["duration_seconds"] == 8.0
    narrow = {"text": "refund", "queue": "billing", "agent": "agent", "since": "2026-03-02", "until": "2026-03-02",
              "min_seconds": "5", "max_seconds": "10"}  # fmt: skip
    r = await qa.get("/api/calls", params=narrow)
    assert [x["call_id"] for x in (await r.json())["calls"]] == ["c-refund"]
    r = await qa.get("/api/calls", params={"sort": "duration", "order": "asc", "limit": "1", "offset": "1"})
    page = await r.json()
    assert [x["call_id"] for x in page["calls"]] == ["c-refund"] and page["total"] == 3
    r = await qa.get("/api/calls", params={"outcome": "contained", "intent": "order_status", "caller": "2002"})
    assert [x["call_id"] for x in (await r.json())["calls"]] == ["c-order"]
    empty_form = {k: "" for k in ("since", "until", "caller", "intent", "outcome", "queue", "version", "min_score")}
    assert (await (await qa.get("/api/calls", params=empty_form)).json())["total"] == 3


@pytest.mark.parametrize("params", [{"sort": "started_at; DROP TABLE calls"}, {"order": "sideways"},
                                    {"since": "yesterday"}, {"limit": "100000"}, {"outcome": "' OR 1=1"}])  # fmt: skip
async def test_bad_search_input_is_a_400_that_says_what_to_fix(console: Console, params: dict[str, str]) -> None:
    qa = await console.client("qa")
    r = await qa.get("/api/calls", params=params)
    assert r.status == 400
    assert (await r.json())["error"]
    assert (await (await qa.get("/api/calls")).json())["total"] == 3  # nothing was dropped


@pytest.mark.parametrize("text", ["'; DROP TABLE calls; --", '" OR ""="', "refund' OR '1'='1", "%", "NEAR(refund)",
                                  "refund\x00", "\\'", "*", "refund -shoes"])  # fmt: skip
async def test_sql_metacharacters_in_the_search_are_harmless(console: Console, text: str) -> None:
    qa = await console.client("qa")
    for field in ("text", "caller", "intent", "queue", "agent", "flow"):
        r = await qa.get("/api/calls", params={field: text})
        assert r.status in (200, 400), (field, text, r.status)
    r = await qa.get("/api/calls", params={"text": text})
    found = {x["call_id"] for x in (await r.json())["calls"]} if r.status == 200 else set()
    assert found <= {"c-refund", "c-other-agent", "c-order"}
    if not re.search(r"\w", text):  # no word at all: no text filter, every call
        assert found == {"c-refund", "c-other-agent", "c-order"}
    elif "refund" not in text:
        assert found == set()
    assert (await (await qa.get("/api/calls")).json())["total"] == 3


async def test_agents_see_only_their_own_calls(console: Console) -> None:
    agent = await console.client("agent")
    body = await (await agent.get("/api/calls", params={"text": "refund"})).json()
    assert [x["call_id"] for x in body["calls"]] == ["c-refund"] and body["own_calls_only"]
    body = await (await agent.get("/api/calls", params={"agent": "a9"})).json()
    assert body["calls"] == []  # asking for another agent's calls finds nothing
    assert (await agent.get("/api/calls/c-other-agent")).status == 404
    assert (await agent.get("/api/calls/c-refund")).status == 200
    assert (await agent.get(f"/api/recordings/{await _uid(console, 'c-order')}/audio")).status == 404
    assert (await agent.get(f"/api/recordings/{await _uid(console, 'c-refund')}/audio")).status == 200
    assert (await agent.get(f"/api/recordings/{await _uid(console, 'c-refund')}/download")).status == 403
    page = await agent.get("/calls/c-other-agent")
    assert page.status == 404


async def test_csv_export_of_a_search_is_audited_and_defuses_formulas(console: Console) -> None:
    console.store.call_started("c-formula", caller='=HYPERLINK("http://x")', at=T0.timestamp())
    assert await console.store.flush(10)
    sup = await console.client("supervisor")
    r = await sup.get("/api/calls.csv", params={"sort": "started_at", "order": "asc"})
    assert r.status == 200 and r.content_type == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert [x["call_id"] for x in rows] == ["c-formula", "c-refund", "c-order", "c-other-agent"]  # ties: by id
    assert rows[0]["caller"].startswith("'=")
    assert rows[1]["intents"] == "refund" and rows[1]["outcome"] == "transferred"
    lines = await _audit(console, "calls.export")
    assert lines[0].actor == "supervisor" and lines[0].detail["rows"] == 4


async def test_call_page_has_turns_intents_masked_slots_and_recordings(console: Console) -> None:
    qa = await console.client("qa")
    body = await (await qa.get("/api/calls/c-refund")).json()
    assert [(t["speaker"], t["start"]) for t in body["turns"]] == [("ivr", 0.0), ("caller", 2.5), ("ivr", 4.5)]
    caller = body["turns"][1]
    assert (caller["confidence"], caller["intent"], caller["intent_score"]) == (0.91, "refund", 0.87)
    assert body["intents"][0]["slots"] == [{"name": "order_number", "value": "4711", "masked": False}]
    rec = body["recordings"][0]
    assert rec["pauses"] == [[5.0, 6.0]] and rec["audio_url"].startswith("/api/recordings/")
    assert rec["download_url"] and body["can_download"] and body["transcript_url"]
    assert (body["flow_name"], body["flow_version"], body["path_url"]) == ("acme_retail", 1, "/api/calls/c-refund/path")
    path = await (await qa.get(body["path_url"])).json()
    assert path["flow"] == "acme_retail" and path["version"] == 1
    assert path["steps"][0] == "main_menu" and path["understood"] == ["main_menu"]
    assert path["note"].startswith("replayed")
    html = await qa.get("/calls/c-refund")
    assert html.status == 200
    text = await html.text()
    assert 'data-testid="turn"' in text and "I want a refund please" in text and 'id="page-data"' in text
    assert "<script>" not in text  # CSP: no inline scripts
    assert (await qa.get("/api/calls/nope")).status == 404


async def test_streaming_with_range_and_audit(console: Console) -> None:
    qa = await console.client("qa")
    uid = await _uid(console, "c-refund")
    whole = await qa.get(f"/api/recordings/{uid}/audio")
    assert whole.status == 200 and whole.content_type == "audio/wav"
    data = await whole.read()
    assert data[:4] == b"RIFF" and len(data) == 44 + 8 * RATE * 4
    part = await qa.get(f"/api/recordings/{uid}/audio", headers={"Range": "bytes=100-199"})
    assert part.status == 206 and await part.read() == data[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    tail = await qa.get(f"/api/recordings/{uid}/audio", headers={"Range": "bytes=1000-"})
    assert tail.status == 206 and await tail.read() == data[1000:]
    plays = await _audit(console, "recording.play")
    assert len(plays) == 1 and plays[0].actor == "qa" and plays[0].target == "c-refund"  # one line per listen
    dl = await qa.get(f"/api/recordings/{uid}/download")
    assert dl.status == 200 and "attachment" in dl.headers["Content-Disposition"] and await dl.read() == data
    assert len(await _audit(console, "recording.download")) == 1
    t = await qa.get("/api/calls/c-refund/transcript.txt")
    assert t.status == 200 and "caller: I want a refund please" in await t.text()
    assert len(await _audit(console, "transcript.download")) == 1


async def test_encrypted_recordings_are_decrypted_for_allowed_users(console: Console) -> None:
    qa = await console.client("qa")
    uid = await _uid(console, "c-order")
    r = await qa.get(f"/api/recordings/{uid}/audio")
    assert r.status == 200
    wav = await r.read()
    assert wav[:4] == b"RIFF" and wav[44:] == _pcm(6.0)
    part = await qa.get(f"/api/recordings/{uid}/audio", headers={"Range": "bytes=44-47"})
    assert part.status == 206 and await part.read() == _pcm(6.0)[:4]
    bad = await qa.get(f"/api/recordings/{uid}/audio", headers={"Range": f"bytes={len(wav)}-"})
    assert bad.status == 416
    assert (await _audit(console, "recording.play"))[0].detail["encrypted"] is True


async def test_checksum_is_verified_and_a_changed_file_is_a_mismatch(console: Console, tmp_path: Path) -> None:
    qa = await console.client("qa")
    uid = await _uid(console, "c-refund")
    v = await (await qa.get(f"/api/recordings/{uid}/verify")).json()
    assert v["state"] == "verified" and v["actual"] == v["expected"]
    f = tmp_path / "var/recordings/2026/03/02/c-refund.wav"
    raw = bytearray(f.read_bytes())
    raw[500] ^= 0xFF
    f.write_bytes(bytes(raw))
    v = await (await qa.get(f"/api/recordings/{uid}/verify")).json()
    assert v["state"] == "mismatch" and v["actual"] != v["expected"]


@pytest.mark.parametrize("path", [
    "/api/recordings/../../../../etc/passwd/audio", "/api/recordings/..%2F..%2F..%2Fetc%2Fpasswd/audio",
    "/api/recordings/%2e%2e%2f%2e%2e%2fetc%2fpasswd/download", "/api/recordings/%2Fetc%2Fpasswd/audio",
    "/api/recordings/....//....//etc/passwd/audio", "/api/recordings/0123456789abcdef0123456789abcdef/audio",
    "/api/recordings/c-refund.wav/audio", "/api/recordings/~root/.ssh/id_rsa/download",
])  # fmt: skip
async def test_path_traversal_in_download_urls_serves_nothing(console: Console, path: str) -> None:
    admin = await console.client("admin")
    r = await admin.http.get(path, allow_redirects=False)
    assert r.status in (400, 403, 404)
    body = await r.read()
    assert b"root:" not in body and b"RIFF" not in body


async def test_a_row_pointing_outside_the_recordings_folder_is_not_served(console: Console) -> None:
    admin = await console.client("admin")
    uid = await _uid(console, "c-other-agent")
    r = await admin.get(f"/api/recordings/{uid}/audio")
    assert r.status == 404 and "not in the recordings folder" in (await r.json())["error"]
    v = await (await admin.get(f"/api/recordings/{uid}/verify")).json()
    assert v["state"] == "missing"


async def test_retention_settings_are_admin_only_and_audited(console: Console) -> None:
    admin, qa = await console.client("admin"), await console.client("qa")
    assert (await qa.get("/api/retention")).status == 403
    body = await (await admin.get("/api/retention")).json()
    assert [(k["kind"], k["days"], k["stored"]) for k in body["kinds"]] == [
        ("audio", 90, False), ("transcripts", None, False), ("slots", None, False)]  # fmt: skip
    r = await admin.send("PUT", "/api/retention", {"kind": "transcripts", "days": 30})
    assert r.status == 200
    kinds = {k["kind"]: k for k in (await r.json())["kinds"]}
    assert kinds["transcripts"]["days"] == 30 and kinds["transcripts"]["updated_by"] == "admin"
    assert (await admin.send("PUT", "/api/retention", {"kind": "audio", "days": 0})).status == 400
    assert (await admin.send("PUT", "/api/retention", {"kind": "passwords", "days": 3})).status == 400
    changes = await _audit(console, "retention.change")
    assert changes[0].target == "transcripts" and changes[0].detail == {"days": 30}
    page = await admin.get("/privacy")
    assert page.status == 200 and "Erase a caller" in await page.text()


async def test_purge_now_deletes_expired_data_with_audit_lines(console: Console, tmp_path: Path) -> None:
    admin = await console.client("admin")
    for kind in ("audio", "transcripts", "slots"):  # every seeded call is from 2026-03-02, long before now
        assert (await admin.send("PUT", "/api/retention", {"kind": kind, "days": 1})).status == 200
    r = await admin.post("/api/retention/purge")
    assert r.status == 200
    assert await r.json() == {"recordings": 2, "turns": 9, "slots": 3}
    assert not (tmp_path / "var/recordings/2026/03/02/c-refund.wav").exists()
    assert (tmp_path / "var/not-recordings/x.wav").exists()  # a row's path outside the folder is never deleted
    purges = {x.target: x.detail["deleted"] for x in await _audit(console, "retention.purge")}
    assert purges == {"audio": 2, "transcripts": 9, "slots": 3}
    uid = await _uid(console, "c-refund")
    assert (await admin.get(f"/api/recordings/{uid}/audio")).status == 410


async def test_erasure_by_number_deletes_the_callers_data_and_audits_a_hash(console: Console, tmp_path: Path) -> None:
    admin = await console.client("admin")
    found = await (await admin.get("/api/privacy/caller", params={"number": "+86 138-0000-1111"})).json()
    assert found["number"] == "+8613800001111" and [c["call_id"] for c in found["calls"]] == ["c-refund"]
    stale = await admin.post("/api/privacy/erase", {"number": "+8613800001111", "expect_calls": 2})
    assert stale.status == 409
    r = await admin.post("/api/privacy/erase", {"number": "+8613800001111", "expect_calls": 1})
    assert r.status == 200
    out = await r.json()
    assert (out["calls"], out["turns"], out["recordings"]) == (1, 3, 1)
    assert not (tmp_path / "var/recordings/2026/03/02/c-refund.wav").exists()
    assert (await admin.get("/api/calls/c-refund")).status == 404
    assert [x["call_id"] for x in (await (await admin.get("/api/calls", params={"text": "refund"})).json())["calls"]] \
        == ["c-other-agent"]  # fmt: skip
    lines = await _audit(console, "privacy.erase")
    assert lines[0].target == "caller:" + out["reference"] and lines[0].detail["calls"] == 1
    everything = " ".join(f"{x.target} {x.detail}" for x in (await console.store.console.list_audit(limit=1000))[0])
    assert "13800001111" not in everything  # the number itself is nowhere in the audit log
    qa = await console.client("qa")
    assert (await qa.post("/api/privacy/erase", {"number": "2002", "expect_calls": 1})).status == 403


PAY_FLOW = """flow: pay
title: sensitive then menu
start: card
defaults:
  timeout: 30
  on_failure: bye
steps:
  card:
    kind: collect
    sensitive: true
    slot: digits
    min_length: 4
    max_length: 4
    into: card
    prompt: Your card number?
    next: menu
  menu:
    kind: menu
    prompt: Say help or press 1.
    options:
      - {keys: "1", phrases: [help], next: bye}
  bye:
    kind: hangup
    text: Goodbye.
    reason: done
"""


async def test_slots_of_a_sensitive_step_are_masked(console: Console) -> None:
    await console.store.console.store_version("pay", PAY_FLOW, by="test", origin="test")
    s = console.store
    s.call_started("c-pay", caller="<sip:7007@127.0.0.1>", flow_name="pay", flow_version=1, at=T0.timestamp())
    uid = s.add_turn("c-pay", "caller", "[redacted: sensitive input]", start=1.0, end=2.0, intent="card")
    s.add_intent("c-pay", "card", 1.0, turn_uid=uid, step="card", slots={"card": "4111"})
    uid = s.add_turn("c-pay", "caller", "help", start=3.0, end=3.5, intent="help")
    s.add_intent("c-pay", "help", 0.9, turn_uid=uid, step="menu", slots={"topic": "billing"})
    assert await s.flush(10)
    qa = await console.client("qa")
    body = await (await qa.get("/api/calls/c-pay")).json()
    assert (await (await qa.get("/api/calls/c-pay/path")).json())["sensitive_steps"] == ["card"]
    assert body["intents"][0]["slots"] == [{"name": "card", "value": "••••", "masked": True}]
    assert body["intents"][1]["slots"] == [{"name": "topic", "value": "billing", "masked": False}]
    assert body["turns"][0]["masked"] is True
    assert "4111" not in await (await qa.get("/calls/c-pay")).text()
