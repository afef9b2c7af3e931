"""Framing of messages between a media worker and the control process.

Each message is a JSON header plus an optional binary payload (PCM), sent as
`!II` (header length, payload length) followed by both. One TCP connection per worker.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

from ivr.core.errors import TelephonyError

_PREFIX = struct.Struct("!II")
MAX_HEADER = 1 << 20
MAX_PAYLOAD = 64 << 20  # a few minutes of 16 kHz audio


def encode(header: dict[str, Any], payload: bytes = b"") -> bytes:
    """One framed message."""
    head = json.dumps(header, separators=(",", ":")).encode()
    return _PREFIX.pack(len(head), len(payload)) + head + payload


async def read_message(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
    """Read one framed message; raises EOFError when the peer closed the connection."""
    try:
        prefix = await reader.readexactly(_PREFIX.size)
        head_len, payload_len = _PREFIX.unpack(prefix)
        if head_len > MAX_HEADER or payload_len > MAX_PAYLOAD:
            raise TelephonyError(f"worker link: oversized message ({head_len}, {payload_len} bytes)")
        head = await reader.readexactly(head_len)
        payload = await reader.readexactly(payload_len) if payload_len else b""
    except asyncio.IncompleteReadError as exc:
        raise EOFError("worker link closed") from exc
    header = json.loads(head)
    if not isinstance(header, dict) or "t" not in header:
        raise TelephonyError("worker link: message without a type")
    return header, payload
