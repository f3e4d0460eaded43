"""The original's queue, as the seed's ConfigMap wrote it: the reference the harness's selftest
catches (as ``mutant-original``) and the benchmarks compare against."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any


class OriginalQueue:
    """The original algorithm: flock on the data file itself, rewrite in place, unlocked size().

    Defects 1, 2 and 3: non-exclusive creation, a size() that reads a half-written file, and a
    rewrite that a SIGKILL leaves half done.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        if not self.path.exists():
            with open(self.path, "w") as handle:
                json.dump([], handle)

    def put(self, item: Any) -> None:
        with open(self.path, "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            items = json.load(handle)
            items.append(item)
            self._rewrite(handle, items)

    def get(self) -> Any | None:
        with open(self.path, "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            items = json.load(handle)
            if not items:
                return None
            head = items.pop(0)
            self._rewrite(handle, items)
            return head

    def size(self) -> int:
        with open(self.path) as handle:
            return len(json.load(handle))

    def _rewrite(self, handle: Any, items: list) -> None:
        handle.seek(0)
        json.dump(items, handle)
        handle.truncate()
        if self.fsync:
            handle.flush()
            os.fsync(handle.fileno())
