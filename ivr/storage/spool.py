"""A local append-only file of writes the database has not taken yet (survives a crash)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ivr.storage.errors import StorageError
from ivr.storage.ops import WriteOp

log = logging.getLogger("ivr.storage")


class Spool:
    """JSON-lines spool of WriteOps; every append is flushed and fsynced before it returns."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the write spool directory {self.path.parent}: {exc}; "
                "set [storage] spool_dir to a writable directory"
            ) from exc

    def append(self, ops: Iterable[WriteOp]) -> int:
        """Append `ops` durably; returns how many were written."""
        lines = [op.to_json() + "\n" for op in ops]
        if not lines:
            return 0
        with open(self.path, "a", encoding="utf-8") as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
        return len(lines)

    def __iter__(self) -> Iterator[WriteOp]:
        """Every op in the spool, oldest first; a torn last line (crash mid-write) is skipped."""
        try:
            f = open(self.path, encoding="utf-8")
        except FileNotFoundError:
            return
        with f:
            for n, line in enumerate(f, 1):
                if not line.endswith("\n"):
                    log.warning("storage: ignoring torn line %d at the end of spool %s", n, self.path)
                    break
                try:
                    yield WriteOp.from_json(line)
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("storage: skipping unreadable line %d of spool %s: %s", n, self.path, exc)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def exists(self) -> bool:
        """True when the spool holds anything."""
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def clear(self) -> None:
        """Forget everything (after a successful replay)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
