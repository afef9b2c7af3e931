"""Signed transcript links: what verifies, what does not, and the secret kept under var/."""

from __future__ import annotations

import stat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from ivr.core.config import WebConfig
from ivr.core.errors import ConfigError
from ivr.session.links import LinkError, TranscriptLinks, load_or_create_secret

SECRET = b"0123456789abcdef0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _parts(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    query = parse_qs(split.query)
    return split.path.rsplit("/", 1)[1], query["exp"][0], query["sig"][0]


def test_a_link_verifies_until_it_expires() -> None:
    clock = Clock()
    links = TranscriptLinks(SECRET, "http://ivr.example:8080/", 600, clock=clock)
    url = links.url("w0-abc")
    assert url.startswith("http://ivr.example:8080/transcripts/w0-abc?exp=")
    call_id, exp, sig = _parts(url)
    links.verify(call_id, exp, sig)
    clock.now += 600
    links.verify(call_id, exp, sig)  # the last second still counts
    clock.now += 1
    with pytest.raises(LinkError, match="expired"):
        links.verify(call_id, exp, sig)


@pytest.mark.parametrize("change", ["call", "exp", "sig", "secret"])
def test_a_changed_link_is_refused(change: str) -> None:
    links = TranscriptLinks(SECRET, "http://h", 600)
    call_id, exp, sig = _parts(links.url("w0-abc"))
    if change == "call":
        call_id = "w0-abd"
    elif change == "exp":
        exp = str(int(exp) + 3600)  # a longer life must not be granted by editing the URL
    elif change == "sig":
        sig = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    else:
        links = TranscriptLinks(b"another secret of sixteen+ bytes", "http://h", 600)
    with pytest.raises(LinkError, match="signature"):
        links.verify(call_id, exp, sig)


def test_malformed_expiry_and_short_secret_are_explained() -> None:
    links = TranscriptLinks(SECRET, "http://h", 600)
    with pytest.raises(LinkError, match="expiry"):
        links.verify("w0-abc", "soon", "00")
    with pytest.raises(ConfigError, match="at least 16"):
        TranscriptLinks(b"short", "http://h", 600)


def test_call_ids_are_quoted_in_the_path() -> None:
    links = TranscriptLinks(SECRET, "http://h", 600)
    assert "/transcripts/a%2Fb%20c?" in links.url("a/b c")


def test_secret_is_generated_once_with_owner_only_permissions(tmp_path: Path) -> None:
    path = tmp_path / "var" / "web-secret"
    first = load_or_create_secret(path)
    assert len(first) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == first  # a restart keeps links that were handed out valid


def test_from_config_uses_public_url_and_configured_secret(tmp_path: Path) -> None:
    web = WebConfig(host="127.0.0.1", port=8081, public_url="https://ivr.example.com", secret="s" * 20)
    links = TranscriptLinks.from_config(web, tmp_path / "unused")
    assert links.url("c1").startswith("https://ivr.example.com/transcripts/c1?")
    assert not (tmp_path / "unused").exists()
    plain = TranscriptLinks.from_config(WebConfig(port=8081), tmp_path / "secret")
    assert plain.url("c1").startswith("http://127.0.0.1:8081/transcripts/c1?")
