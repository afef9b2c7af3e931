"""Urgent call events jump the queue; ordered ones keep their order."""

from __future__ import annotations

from ivr.core.eventqueue import EventQueue
from ivr.core.events import AudioChunk, DtmfDigit, Hangup, Say, Transcript, event_from_dict


async def test_urgent_events_jump_ahead_in_their_own_order() -> None:
    q = EventQueue()
    q.put(Say("c", text="one"))
    q.put(Transcript("c", text="two"))
    q.put(DtmfDigit("c", digit="5"))
    q.put(Hangup("c", by="caller"))
    got = [await q.get() for _ in range(4)]
    assert [e.kind for e in got] == ["dtmf", "hangup", "say", "transcript"]
    assert q.get_nowait() is None


def test_events_serialize_for_the_live_feed() -> None:
    d = DtmfDigit("c1", digit="7", method="info", at=1.5).to_dict()
    assert d == {"kind": "dtmf", "call_id": "c1", "digit": "7", "method": "info", "at": 1.5}
    assert event_from_dict(d) == DtmfDigit("c1", digit="7", method="info", at=1.5)
    assert "pcm" not in AudioChunk("c1", pcm=b"\x00\x01").to_dict()
