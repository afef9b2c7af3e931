"""`ivr flows publish`: store a tested flow file as the live version in the configured database."""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import sys
from pathlib import Path
from typing import TextIO

from flows.cli import publish_check
from flows.loader import load_flow_text
from ivr.core.config import Config
from ivr.storage import CallStore


def publish_main(config: Config, path: str | Path, note: str = "", stdout: TextIO | None = None) -> int:
    """Validate, run the flow's test cases, store as a new live version. 0 published, 2 refused."""
    out = stdout or sys.stdout
    source = publish_check(path, out)
    if source is None:
        out.write(f"{path}: not published\n")
        return 2
    name = load_flow_text(source, str(path)).name
    version, fresh = asyncio.run(_store(config, name, source, note))
    if not fresh:
        out.write(f"flow {name}: version {version} is live and has this text already; nothing published\n")
    else:
        out.write(f"flow {name}: published version {version}, live now; running `ivr serve` processes take it for "
                  "new calls within a second (calls in progress keep theirs)\n")  # fmt: skip
    return 0


async def _store(config: Config, name: str, source: str, note: str) -> tuple[int, bool]:
    """Store `source` as the next live version unless it is the live text already; (version, stored?)."""
    store = CallStore.from_config(config.storage, root=config.root)
    await store.start()
    try:
        state = await store.console.live_state(name)
        if state is not None and state.live is not None:
            live = next((v for v in await store.console.versions(name) if v.version == state.live), None)
            if live is not None and live.sha256 == hashlib.sha256(source.encode()).hexdigest():
                return live.version, False
        version = await store.console.store_version(name, source, by=_os_user(), origin="cli", note=note)
        return version, True
    finally:
        await store.close()


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "cli"
