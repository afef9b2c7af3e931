"""The CallLeg API over a real worker: audio in, tap, barge-in stop, DTMF out, bridge and transfer."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from ivr.core.audio import read_wav, rms_dbfs
from ivr.core.events import AudioChunk
from telephony.remote_leg import RemoteCallLeg
from telephony.switchboard import Switchboard
from tests.conftest import FSDD, REPO
from tests.e2e.harness import events, finish_call, free_port, start_call, wait_listening

pytestmark = pytest.mark.e2e
RATE = 16000


def tone(seconds: float, hz: float = 440.0, rate: int = RATE) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * 8000).astype("<i2").tobytes()


def loud_seconds(path: Path) -> float:
    pcm = read_wav(path)
    n = pcm.rate // 50
    return sum(0.02 for i in range(0, len(pcm.data) // 2 - n, n) if rms_dbfs(pcm.data[2 * i : 2 * (i + n)]) > -40)


@pytest.fixture
async def board() -> AsyncIterator[tuple[Switchboard, int]]:
    control, sip = free_port(socket.SOCK_STREAM), free_port()
    sb = Switchboard("127.0.0.1", control)
    await sb.start()
    env = {**os.environ, "IVR_SIP__PORT": str(sip), "IVR_WORKERS__CONTROL_PORT": str(control),
           "IVR_WORKERS__RTP_PORT_START": str(41000 + (os.getpid() % 40) * 100)}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "ivr", "worker", "--config", str(REPO / "config.toml"),
                             "--index", "0", "--standalone"], env=env)  # fmt: skip
    try:
        await sb.wait_workers(1, 30)
        yield sb, sip
    finally:
        await sb.stop()
        assert proc.wait(15) == 0


async def next_call(sb: Switchboard) -> RemoteCallLeg:
    return await asyncio.wait_for(anext(sb.calls()), 20)


async def test_inbound_audio_tap_stop_playback_and_dtmf(board: tuple[Switchboard, int], tmp_path: Path) -> None:
    sb, sip = board
    heard = tmp_path / "caller-heard.wav"
    caller = await asyncio.to_thread(
        start_call, f"sip:ivr@127.0.0.1:{sip}", f"1.0 play {FSDD / '7_jackson_0.wav'}", "5.0 hangup",
        extra=("--record", str(heard)),
    )  # fmt: skip
    leg = await next_call(sb)
    await leg.answer()
    inbound: list[AudioChunk] = []
    tapped: list[AudioChunk] = []

    async def collect(stream: AsyncIterator[AudioChunk], into: list[AudioChunk]) -> None:
        async for chunk in stream:
            into.append(chunk)

    t0 = time.monotonic()
    tasks = [
        asyncio.create_task(collect(leg.audio(RATE), inbound)),
        asyncio.create_task(collect(leg.tap(RATE), tapped)),
    ]
    await asyncio.sleep(0.2)
    playback = await leg.play(tone(3.0), RATE)
    await asyncio.sleep(0.6)
    stop_at = time.monotonic()
    await leg.stop_playback()
    assert await leg.wait_playback(playback) is True  # interrupted
    stop_latency = time.monotonic() - stop_at
    await leg.send_dtmf("42#")
    await asyncio.gather(*tasks)  # both streams end at hangup
    t = await asyncio.to_thread(finish_call, caller)

    assert stop_latency < 0.05, stop_latency  # command, player teardown and event back: well under 1 frame + link
    # The caller heard the tone for as long as it played (0.6 s), not the whole 3 s.
    assert 0.4 < loud_seconds(heard) < 0.8, loud_seconds(heard)
    assert t["dtmf_received"] == "42#"
    assert t["ended_by"] == "local"
    # 20 ms frames of 16 kHz PCM, about 50 per second, and the caller's digit is in them.
    assert {len(c.pcm) for c in inbound} == {640}
    span = inbound[-1].at - t0
    assert len(inbound) > 0.8 * 50 * span
    speech = [c for c in inbound if rms_dbfs(c.pcm) > -40 and 0.9 < c.at - t0 < 2.5]
    assert len(speech) > 10
    assert {c.direction for c in tapped} == {"in", "out"}
    assert sum(1 for c in tapped if c.direction == "out" and rms_dbfs(c.pcm) > -30) > 15  # the tone


async def test_bridge_to_agent_carries_audio_and_headers(board: tuple[Switchboard, int], tmp_path: Path) -> None:
    sb, sip = board
    agent_port = free_port()
    agent_heard, caller_heard = tmp_path / "agent.wav", tmp_path / "caller.wav"
    agent = await asyncio.to_thread(
        start_call, "", f"1.0 play {FSDD / '3_lucas_0.wav'}",
        extra=("--listen", "--port", str(agent_port), "--record", str(agent_heard), "--max-seconds", "8"),
    )  # fmt: skip
    await asyncio.to_thread(wait_listening, agent)
    caller = await asyncio.to_thread(
        start_call, f"sip:ivr@127.0.0.1:{sip}", f"2.0 play {FSDD / '5_nicolas_0.wav'}", "5.0 hangup",
        extra=("--record", str(caller_heard)),
    )  # fmt: skip
    leg = await next_call(sb)
    await leg.answer()
    other = await leg.bridge(
        f"sip:agent@127.0.0.1:{agent_port}", {"X-IVR-Call-ID": leg.call_id, "X-IVR-Intent": "returns"}
    )
    assert other.codec
    async for event in leg.events():
        if event.kind == "hangup":
            break
    await other.hangup()
    a = await asyncio.to_thread(finish_call, agent)
    await asyncio.to_thread(finish_call, caller)
    assert a["headers"]["X-IVR-Call-ID"] == leg.call_id
    assert a["headers"]["X-IVR-Intent"] == "returns"
    assert loud_seconds(agent_heard) > 0.2  # the caller's "five"
    assert loud_seconds(caller_heard) > 0.2  # the agent's "three"
    assert events(a, "hangup")[0]["by"] == "remote"


async def test_blind_transfer_with_refer_carries_headers(board: tuple[Switchboard, int]) -> None:
    sb, sip = board
    agent_port = free_port()
    agent = await asyncio.to_thread(start_call, "", "1.0 hangup", extra=("--listen", "--port", str(agent_port)))
    await asyncio.to_thread(wait_listening, agent)
    caller = await asyncio.to_thread(start_call, f"sip:ivr@127.0.0.1:{sip}", max_seconds=10)
    leg = await next_call(sb)
    await leg.answer()
    target = f"sip:agent@127.0.0.1:{agent_port}"
    code = await leg.transfer(target, {"X-IVR-Caller": "+15551234"})
    assert code == 200
    await leg.hangup()
    a, c = await asyncio.to_thread(finish_call, agent), await asyncio.to_thread(finish_call, caller)
    assert c["referred_to"].startswith(f"<{target}")
    assert a["headers"]["X-IVR-Caller"] == "+15551234"
    assert a["answered"]
    assert a["refused_calls"] == [], a
