"""Serving call recordings: the file a database row names (inside the recordings folder only), byte ranges,
decryption for playback, and the checksum check."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from aiohttp import web

from recordings import decrypt_recording, parse_key

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def check_file(stored: str, folder: Path, root: Path) -> Path:
    """The recording file of a row, resolved; FileNotFoundError if it is gone or lies outside `folder`."""
    path = Path(stored)
    path = (path if path.is_absolute() else root / path).resolve()
    # A row is written by the call path, but a restored or edited database must not turn into a file reader.
    if not path.is_relative_to(folder):
        raise FileNotFoundError("the recording is not in the recordings folder ([recordings] dir); it is not served")
    if not path.is_file():
        raise FileNotFoundError("the recording file is missing from the recordings folder")
    return path


def decrypted_wav(path: Path, key_text: str) -> bytes:
    """A whole encrypted recording as playable WAV bytes (RecordingError if the key is wrong or missing)."""
    return decrypt_recording(path, parse_key(key_text))


def verify(path: Path, expected: str) -> tuple[str, str]:
    """('verified' | 'mismatch' | 'unknown', the file's SHA-256)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    actual = h.hexdigest()
    if not expected:
        return "unknown", actual
    return ("verified" if actual == expected.lower() else "mismatch"), actual


def audio_response(request: web.Request, data: Path | bytes, *, name: str, attachment: bool) -> web.StreamResponse:
    """WAV from a file (aiohttp streams it with Range) or from bytes (Range done here)."""
    disposition = f'{"attachment" if attachment else "inline"}; filename="{name}"'
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store", "Accept-Ranges": "bytes"}
    if isinstance(data, Path):
        response = web.FileResponse(data, headers={**headers, "Content-Type": "audio/wav"})
        return response
    size = len(data)
    m = _RANGE.match(request.headers.get("Range", "").strip())
    if not m or not (m.group(1) or m.group(2)):
        return web.Response(body=data, content_type="audio/wav", headers=headers)
    if m.group(1):
        start = int(m.group(1))
        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    else:  # "bytes=-N": the last N bytes
        start, end = max(0, size - int(m.group(2))), size - 1
    if start >= size or start > end:
        return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    return web.Response(status=206, body=data[start : end + 1], content_type="audio/wav",
                        headers={**headers, "Content-Range": f"bytes {start}-{end}/{size}"})  # fmt: skip
