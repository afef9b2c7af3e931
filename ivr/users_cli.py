"""`ivr users`: create console users and list them, against the configured database."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys

from ivr.core.config import Config
from ivr.core.errors import IvrError
from ivr.storage import CallStore


def read_password(prompt_tty: bool) -> str:
    """A new password: typed twice at a terminal, or one line of standard input (for scripts)."""
    if not prompt_tty:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password (10 characters or more): ")
    if getpass.getpass("Again: ") != first:
        raise IvrError("the two passwords differ; run the command again")
    return first


async def add_user(config: Config, username: str, role: str, display_name: str, password: str) -> None:
    """Create the user with an argon2 hash and write an audit line."""
    from ivr.web.passwords import check_role, hash_password

    check_role(role)
    digest = hash_password(password)
    store = await _open(config)
    try:
        await store.console.add_user(username, role=role, display_name=display_name, password_hash=digest)
        await store.console.audit(actor=f"cli:{getpass.getuser()}", role="", action="user.create", target=username,
                                  detail={"role": role, "via": "ivr users add"}, address="")  # fmt: skip
    finally:
        await store.close()


async def _open(config: Config) -> CallStore:
    # Not open_call_store: that marks open calls interrupted, and `ivr serve` may be running beside us.
    store = CallStore.from_config(config.storage, root=config.root, node=f"cli-{os.getpid()}")
    await store.start()
    return store


async def list_users(config: Config) -> list[tuple[str, str, bool]]:
    """(username, role, disabled) of every user."""
    store = await _open(config)
    try:
        return [(u.username, u.role, u.disabled) for u in await store.console.list_users()]
    finally:
        await store.close()


def main(config: Config, command: str, username: str = "", role: str = "", display_name: str = "") -> int:
    """Run `ivr users add|list`."""
    if command == "list":
        for name, r, disabled in asyncio.run(list_users(config)):
            print(f"{name}\t{r}" + ("\t(disabled)" if disabled else ""))
        return 0
    password = read_password(sys.stdin.isatty() and not os.environ.get("IVR_PASSWORD_STDIN"))
    asyncio.run(add_user(config, username, role, display_name, password))
    print(f"user {username} ({role}) created")
    return 0
