"""`ivr flows publish`: store a tested flow (or knowledge base) file as the live version in the configured database."""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import sys
from pathlib import Path
from typing import TextIO

from flows.cli import Publishable, publish_check
from ivr.core.config import Config
from ivr.storage import CallStore


def publish_main(config: Config, path: str | Path, note: str = "", stdout: TextIO | None = None) -> int:
    """Validate, run the test cases that cover the file, store it as a new live version. 0 published, 2 refused."""
    out = stdout or sys.stdout
    checked = publish_check(path, out)
    if checked is None:
        out.write(f"{path}: not published\n")
        return 2
    version, fresh = asyncio.run(_store(config, checked, note))
    what = "knowledge base" if checked.kind == "knowledge" else "flow"
    if not fresh:
        out.write(f"{what} {checked.name}: version {version} is live and has this text already; nothing published\n")
    else:
        out.write(f"{what} {checked.name}: published version {version}, live now; running `ivr serve` processes take "
                  "it for new calls within a second (calls in progress keep theirs)\n")  # fmt: skip
    return 0


async def _store(config: Config, checked: Publishable, note: str) -> tuple[int, bool]:
    """Store the text as the next live version unless it is the live text already; (version, stored?)."""
    store = CallStore.from_config(config.storage, root=config.root)
    await store.start()
    name, source = checked.name, checked.source
    try:
        state = await store.console.live_state(name)
        if state is not None and state.live is not None:
            live = next((v for v in await store.console.versions(name) if v.version == state.live), None)
            if live is not None and live.sha256 == hashlib.sha256(source.encode()).hexdigest():
                return live.version, False
        version = await store.console.store_version(name, source, by=_os_user(), origin="cli", note=note,
                                                    kind=checked.kind)  # fmt: skip
        return version, True
    finally:
        await store.close()


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "cli"
