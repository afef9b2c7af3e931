"""Encryption at rest: a chunked AES-256-GCM container that is written as the call runs.

Layout: b"IVRREC1\\n", a 2-byte header length, a JSON header (rate, channels, nonce prefix,
key id), then chunks of [4-byte length][ciphertext+tag]. Chunk n uses nonce prefix||n and
binds header, n and a final flag as associated data, so chunks cannot be reordered, dropped
or cut short unnoticed; a crash leaves every flushed chunk readable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from recordings.errors import RecordingError
from recordings.wav import wav_header, write_all

MAGIC = b"IVRREC1\n"
_TAG = 16
_KEY_HINT = (
    "set [recordings] encryption_key to 32 random bytes as base64 or 64 hex digits, e.g. "
    'python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"'
)


def parse_key(text: str) -> bytes:
    """The 32-byte AES key from its base64 or hex form in config."""
    text = text.strip()
    try:
        key = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise RecordingError(f"recordings encryption key is not valid base64 or hex; {_KEY_HINT}") from exc
    if len(key) != 32:
        raise RecordingError(f"recordings encryption key has {len(key)} bytes, AES-256 needs 32; {_KEY_HINT}")
    return key


def key_id(key: bytes) -> str:
    """Short fingerprint naming which key encrypted a file (safe to store)."""
    return hashlib.sha256(b"ivr-recording-key" + key).hexdigest()[:16]


def _aesgcm(key: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:  # pragma: no cover - cryptography is a declared dependency
        raise RecordingError("encrypted recordings need the 'cryptography' package; pip install cryptography") from exc
    return AESGCM(key)


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0)


class EncryptedWriter:
    """Same interface as GrowingWav; each flush seals the buffered audio as one chunk."""

    encrypted = True

    def __init__(self, path: Path, rate: int, channels: int, key: bytes, *, fsync: bool = False) -> None:
        self.path, self.rate, self.channels, self._fsync = path, rate, channels, fsync
        self._aead = _aesgcm(key)
        self._prefix = os.urandom(4)
        meta = {"rate": rate, "channels": channels, "bits": 16, "nonce": self._prefix.hex(), "key_id": key_id(key)}
        self._header = json.dumps(meta, sort_keys=True).encode()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        self._index = 0
        self.data_bytes = 0
        self._buffer = bytearray()
        write_all(self._fd, MAGIC + struct.pack(">H", len(self._header)) + self._header)

    def write(self, pcm: bytes) -> None:
        """Buffer interleaved frames (sealed on flush)."""
        self._buffer += pcm

    def _seal(self, final: bool) -> None:
        plain = bytes(self._buffer)
        self._buffer.clear()
        nonce = self._prefix + struct.pack(">Q", self._index)
        sealed = self._aead.encrypt(nonce, plain, _aad(self._header, self._index, final))
        write_all(self._fd, struct.pack(">I", len(sealed)) + sealed)
        self._index += 1
        self.data_bytes += len(plain)

    def flush(self) -> None:
        """Seal and write buffered audio; raises OSError (e.g. disk full)."""
        if self._buffer:
            self._seal(final=False)
        if self._fsync:
            os.fsync(self._fd)

    def abandon(self) -> None:
        """After a write error: drop a torn chunk and close."""
        try:
            os.close(self._fd)
            truncate_torn_chunk(self.path)
        except (OSError, RecordingError):
            pass

    def close(self) -> None:
        """Seal the rest as the final chunk and close (after an OSError the file stays open for abandon())."""
        self._seal(final=True)
        if self._fsync:
            os.fsync(self._fd)
        os.close(self._fd)

    @property
    def duration(self) -> float:
        """Seconds of audio written so far."""
        return self.data_bytes / (2 * self.channels * self.rate)


def _read_header(f: Any, path: Path) -> tuple[bytes, dict[str, Any]]:
    if f.read(len(MAGIC)) != MAGIC:
        raise RecordingError(f"{path} is not an encrypted IVR recording")
    (n,) = struct.unpack(">H", f.read(2))
    header = f.read(n)
    return header, json.loads(header)


def _chunks(f: Any) -> Iterator[tuple[int, bytes]]:
    """(offset, sealed bytes) of every complete chunk."""
    while True:
        offset = f.tell()
        raw = f.read(4)
        if len(raw) < 4:
            return
        (n,) = struct.unpack(">I", raw)
        sealed = f.read(n)
        if len(sealed) < n:
            return
        yield offset, sealed


def truncate_torn_chunk(path: Path) -> tuple[dict[str, Any], int]:
    """Cut a partly written last chunk off; returns (header, plaintext bytes in complete chunks)."""
    with open(path, "r+b") as f:
        _, meta = _read_header(f, path)
        end, plain = f.tell(), 0
        for offset, sealed in _chunks(f):
            end, plain = offset + 4 + len(sealed), plain + len(sealed) - _TAG
        f.truncate(end)
    return meta, plain


def iter_decrypted(path: str | Path, key: bytes) -> Iterator[bytes]:
    """Interleaved PCM16 of an encrypted recording, chunk by chunk (for streaming playback)."""
    path = Path(path)
    aead = _aesgcm(key)
    with open(path, "rb") as f:
        header, meta = _read_header(f, path)
        if meta.get("key_id") != key_id(key):
            raise RecordingError(f"{path} was encrypted with another key (id {meta.get('key_id')}); use that key")
        prefix = bytes.fromhex(meta["nonce"])
        final_seen = False
        for index, (_, sealed) in enumerate(_chunks(f)):
            if final_seen:
                raise RecordingError(f"{path}: data after the final chunk; the file was tampered with")
            nonce = prefix + struct.pack(">Q", index)
            for final in (False, True):
                try:
                    yield aead.decrypt(nonce, sealed, _aad(header, index, final))
                    final_seen = final
                    break
                except Exception:  # cryptography raises InvalidTag
                    continue
            else:
                raise RecordingError(f"{path}: chunk {index} fails authentication; the file is corrupt or altered")


def decrypt_recording(path: str | Path, key: bytes) -> bytes:
    """A whole encrypted recording as the bytes of a playable WAV file."""
    path = Path(path)
    with open(path, "rb") as f:
        _, meta = _read_header(f, path)
    pcm = b"".join(iter_decrypted(path, key))
    return wav_header(int(meta["rate"]), int(meta["channels"]), len(pcm)) + pcm
