"""Signed, expiring links to a call's transcript: handed to agents in SIP headers, checked by ivr.web.

A link is `{base}/transcripts/{call_id}?exp=EPOCH&sig=HEX`, where `sig` is the HMAC-SHA256 of
the call id and the expiry under a secret only the control process knows. Anyone holding the
link can read that one transcript until it expires; nothing else is needed (no login).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from ivr.core.config import WebConfig
from ivr.core.errors import ConfigError, IvrError

SECRET_FILE = "var/web-secret"
_MIN_SECRET_BYTES = 16


class LinkError(IvrError):
    """A transcript link is malformed, forged or expired."""


class TranscriptLinks:
    """Makes and checks transcript links for one secret."""

    def __init__(
        self, secret: bytes, base_url: str, ttl_seconds: float, *, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < _MIN_SECRET_BYTES:
            raise ConfigError(
                f"[web] secret is {len(secret)} bytes; use at least {_MIN_SECRET_BYTES} random bytes "
                "(or leave it empty to have one generated)"
            )
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl_seconds
        self._clock = clock

    @classmethod
    def from_config(cls, web: WebConfig, secret_file: Path) -> TranscriptLinks:
        """Links for the [web] section; an empty `secret` is read from (or generated into) `secret_file`."""
        secret = web.secret.encode() if web.secret else load_or_create_secret(secret_file)
        base = web.public_url or f"http://{web.host}:{web.port}"
        return cls(secret, base, web.link_ttl_seconds)

    def derive_key(self, purpose: str) -> bytes:
        """32 bytes for another use of the same secret (e.g. the console's session cookies)."""
        return hmac.new(self._secret, f"ivr-derive:{purpose}".encode(), hashlib.sha256).digest()

    def url(self, call_id: str) -> str:
        """A link to `call_id`'s transcript that works until now + ttl."""
        exp = int(self._clock() + self.ttl)
        return f"{self.base_url}/transcripts/{quote(call_id, safe='')}?exp={exp}&sig={self.signature(call_id, exp)}"

    def signature(self, call_id: str, exp: int) -> str:
        """Hex HMAC-SHA256 binding the call id to the expiry time."""
        return hmac.new(self._secret, f"{call_id}\n{exp}".encode(), hashlib.sha256).hexdigest()

    def verify(self, call_id: str, exp: str, sig: str) -> None:
        """Raise LinkError unless `exp`/`sig` are a valid, unexpired signature of `call_id`."""
        try:
            expires = int(exp)
        except ValueError:
            raise LinkError("the link has no valid expiry; ask for a new link") from None
        if not hmac.compare_digest(self.signature(call_id, expires), sig):
            raise LinkError("the link's signature does not match; use the link exactly as it was sent")
        if self._clock() > expires:
            raise LinkError("the link has expired; ask for a new link")


def load_or_create_secret(path: Path) -> bytes:
    """The secret stored at `path`, created there (mode 0600) with 32 random bytes if missing."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise ConfigError(f"cannot read the web secret {path}: {exc}; fix its permissions or set [web] secret") from exc
    if text:
        return text.encode()
    text = secrets.token_hex(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text().strip().encode()
    except OSError as exc:
        raise ConfigError(
            f"cannot create the web secret {path}: {exc}; make var/ writable or set [web] secret"
        ) from exc
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return text.encode()
