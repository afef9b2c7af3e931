"""The console's vendored browser libraries: present, self-contained, and licensed as package-lock.json pins them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

VENDOR = REPO / "ivr" / "web" / "static" / "vendor"
WEB_VENDOR = REPO / "web-vendor"

# Each built file and a global it must define, so a page's <script src> gets what it expects.
BUILT = {
    "codemirror.js": "window.CM=",
    "graph.js": "window.cytoscape=",
    "wavesurfer.js": "window.WaveSurfer=",
    "uPlot.iife.min.js": "var uPlot=",
    "uPlot.min.css": ".uplot",
}

# Loads that would reach another host when a page runs: the console must work with no internet.
# Licence comments mention URLs too, so only code that fetches or includes something is matched.
_EXTERNAL_LOAD = re.compile(
    r"""(?:import\s*\(\s*|importScripts\s*\(\s*|new\s+Worker\s*\(\s*|fetch\s*\(\s*|src\s*=\s*|href\s*=\s*|"""
    r"""@import\s+(?:url\(\s*)?|url\(\s*)["'`]?(?:https?:)?//""",
    re.IGNORECASE,
)

_ROW = re.compile(
    r"^\|\s*(?P<name>[^|\s]+)\s*\|\s*(?P<version>[^|\s]+)\s*\|\s*(?P<licence>[^|]+?)\s*\|"
    r"\s*(?P<url>[^|\s]+)\s*\|\s*(?P<files>[^|]+?)\s*\|\s*(?P<text>[^|\s]+)\s*\|$"
)


def _lock() -> dict[str, dict[str, object]]:
    packages: dict[str, dict[str, object]] = json.loads((WEB_VENDOR / "package-lock.json").read_text())["packages"]
    return packages


def _licence_rows() -> list[dict[str, str]]:
    text = (VENDOR / "LICENSES.md").read_text()
    rows = [m.groupdict() for m in map(_ROW.match, text.splitlines()) if m]
    return [r for r in rows if r["name"] != "Package" and not r["name"].startswith("-")]


@pytest.mark.parametrize("name", sorted(BUILT))
def test_built_file_defines_its_global(name: str) -> None:
    path = VENDOR / name
    assert path.is_file(), f"{path} is missing: cd web-vendor && npm ci && npm run build"
    text = path.read_text()
    assert len(text) > 1000
    assert BUILT[name] in text


@pytest.mark.parametrize("name", sorted(BUILT))
def test_built_file_loads_nothing_from_another_host(name: str) -> None:
    found = [m.group(0) for m in _EXTERNAL_LOAD.finditer((VENDOR / name).read_text())]
    assert found == []


def test_external_load_pattern_catches_cdn_loads() -> None:
    """The scan above would see the usual ways a bundle pulls code or fonts from a CDN."""
    for line in [
        'import("https://esm.sh/x")',
        's.src="https://cdn.jsdelivr.net/x.js"',
        "fetch('http://a/b')",
        "@import url(https://fonts.googleapis.com/css)",
        "src: url(//fonts.gstatic.com/a.woff2)",
        'importScripts("https://x/w.js")',
    ]:
        assert _EXTERNAL_LOAD.search(line), line
    for line in [
        "/*! https://github.com/leeoniya/uPlot (v1.6.32) */",
        'url(\'data:image/svg+xml,<svg xmlns="http://www.w3.org/2000/svg">',
        "fetch(url)",
        'src="/static/vendor/x.js"',
    ]:
        assert not _EXTERNAL_LOAD.search(line), line


def test_licences_list_exactly_the_locked_runtime_packages() -> None:
    lock = _lock()
    runtime = {
        key.rsplit("node_modules/", 1)[1]: str(entry["version"])
        for key, entry in lock.items()
        if key and not entry.get("dev")
    }
    listed = {row["name"]: row["version"] for row in _licence_rows()}
    assert listed == runtime


def test_every_listed_licence_text_is_there() -> None:
    rows = _licence_rows()
    assert rows
    for row in rows:
        text = VENDOR / row["text"]
        assert text.is_file() and text.stat().st_size > 100, f"{row['name']}: {text} is missing or empty"
        assert row["url"].startswith("https://"), row
        assert row["licence"] in {"MIT", "BSD-3-Clause", "ISC", "Apache-2.0", "BSD-2-Clause"}, row
        assert set(row["files"].split(", ")) <= set(BUILT), row


def test_package_json_pins_exact_versions() -> None:
    package = json.loads((WEB_VENDOR / "package.json").read_text())
    pins = {**package["dependencies"], **package["devDependencies"]}
    assert "esbuild" in package["devDependencies"]
    assert "build" in package["scripts"]
    loose = {name: spec for name, spec in pins.items() if not re.fullmatch(r"\d+\.\d+\.\d+", spec)}
    assert loose == {}
    lock = _lock()
    assert {name: lock[f"node_modules/{name}"]["version"] for name in pins} == pins


def test_node_modules_is_ignored_by_git() -> None:
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert any(line.strip().strip("/") == "web-vendor/node_modules" for line in ignored)


def test_vendor_folder_holds_only_what_the_build_writes() -> None:
    """A stale file left from an older build would be served but listed nowhere."""
    expected = {*BUILT, "LICENSES.md", "licenses"}
    assert {p.name for p in VENDOR.iterdir()} == expected
    listed = {Path(row["text"]).name for row in _licence_rows()}
    assert {p.name for p in (VENDOR / "licenses").iterdir()} == listed
