"""Deliberately broken queues, each modelled on a defect of the original: for ``selftest`` only.

None of this is product code. Each class keeps FileQueue's API (put, get, size) and breaks
exactly one rule, so that a harness that misses it is shown to be blind to that defect. The
original itself, which breaks several, is ``harness.backends.original``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
from pathlib import Path
from typing import Any

from queue_core import FileQueue
from queue_core.atomic import write_atomic
from queue_core.locking import FileLock


class _AtomicJsonQueue:
    """Atomic replace of a JSON array; subclasses choose the locking (or its absence)."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._create()

    def _create(self) -> None:
        with self._locked():
            if not self.path.exists():
                write_atomic(self.path, b"[]")

    def _locked(self) -> Any:
        raise NotImplementedError

    def _load(self) -> list:
        return json.loads(self.path.read_bytes())

    def _store(self, items: list) -> None:
        write_atomic(self.path, json.dumps(items).encode(), fsync=self.fsync)

    def put(self, item: Any) -> None:
        with self._locked():
            self._store([*self._load(), item])

    def get(self) -> Any | None:
        with self._locked():
            items = self._load()
            if not items:
                return None
            head = self._take(items)
            self._store(items)
            return head

    def size(self) -> int:
        return len(self._load())

    def _take(self, items: list) -> Any:
        return items.pop(0)


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class NoLockQueue(_AtomicJsonQueue):
    """Atomic writes but no lock at all: concurrent changes overwrite each other."""

    def _locked(self) -> Any:
        return _NoLock()


class _LockOnDataFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        self.handle = open(self.path)
        fcntl.flock(self.handle, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


class ReplacedLockQueue(_AtomicJsonQueue):
    """Defect 10: the lock is taken on the data file, which each write replaces by rename."""

    def _create(self) -> None:
        if self.path.exists():
            return
        staged = self.path.with_name(f".{self.path.name}.new-{os.getpid()}")
        staged.write_text("[]")
        with contextlib.suppress(FileExistsError):
            os.link(staged, self.path)  # creates it whole, and only if nobody else did
        staged.unlink()

    def _locked(self) -> Any:
        return _LockOnDataFile(self.path)


class _RightLock(_AtomicJsonQueue):
    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self._lock = FileLock(Path(str(path) + ".lock"))
        super().__init__(path, fsync=fsync)

    def _locked(self) -> Any:
        return self._lock.exclusive()


class RacyCreateQueue(_RightLock):
    """Correct but for the original's creation: check, then open for writing (truncating)."""

    def _create(self) -> None:
        if not self.path.exists():
            with open(self.path, "w") as handle:
                json.dump([], handle)


class SwappedOrderQueue(_RightLock):
    """Correct but for order: about one get in 30 returns the second item instead of the first."""

    def _take(self, items: list) -> Any:
        if len(items) > 1 and random.random() < 1 / 30:
            return items.pop(1)
        return items.pop(0)


class ResetClaimsQueue(FileQueue):
    """Opening the queue makes every claimed item available again at once, as persist-queue's
    ack queue does: a consumer that starts while others work hands their items out twice.

    It writes to FileQueue's ledger directly, on purpose: no public call can free another
    consumer's claims, and that is exactly the defect.
    """

    def __init__(self, path: str | os.PathLike[str], **options: Any) -> None:
        super().__init__(path, **options)
        with self._lock.exclusive():
            state = self._ledger.load()
            if state is not None:
                self._ledger.append(*({"op": "nack", "order": e.order, "until": 0.0}
                                      for e in state.entries.values() if e.held))
