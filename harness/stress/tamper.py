"""Damage done to a live queue's files while a stress run goes on (``stress --tamper``): the
damage a crash, a full disk or a backup tool leaves, which the queue promises to survive.

- ``sync``: ``tasks.json.sync`` truncated, overwritten in part with garbage, or removed (a
  record write cut short; ``.sync`` is advisory);
- ``claims``: a torn record appended to ``tasks.json.claims`` (a writer killed mid-record);
- ``lines``: a half-written line appended to ``tasks.json`` (a put killed mid-write);
- ``head``: garbage in the head file's slot that is not the current one (a torn slot write);
- ``snapshot``: hard links to the queue's files taken and dropped (``ln``, ``cp -al``,
  rsnapshot), which must not hide a file's replacement.

The writes a crashed queue process would have made under the queue's lock are made under it
(``claims``, ``lines``, ``head``); the others, like the processes they stand for, are not.
An operation of a tampered run that raised may have happened: the workers record it as
``info``, as if their process had died during it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import threading
from collections import Counter
from pathlib import Path

TAMPERS = ("sync", "claims", "lines", "head", "snapshot")
#: Snapshots kept at once, as a backup tool's rotation keeps a few.
SNAPSHOTS_KEPT = 3
_SLOT, _HEAD_HEADER = 32, 32


def parse_tampers(text: str) -> tuple[str, ...]:
    """``"sync,claims"`` as a tuple of kinds; ``ValueError`` naming an unknown one."""
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in TAMPERS]
    if unknown or not kinds:
        named = f"unknown tampering {', '.join(unknown)}" if unknown else "nothing named"
        raise ValueError(f"{named}; choose from {', '.join(TAMPERS)}")
    return kinds


class Tamperer(threading.Thread):
    """Damages the queue in ``directory`` (its file ``tasks.json``) about every ``every``
    seconds, one of ``kinds`` at a time, seeded; ``done`` counts what it did."""

    def __init__(self, directory: Path, kinds: tuple[str, ...], every: float, seed: int) -> None:
        super().__init__(name="tamperer", daemon=True)
        self.path = directory / "tasks.json"
        self.kinds = kinds
        self.every = every
        self.rng = random.Random(f"{seed}:tamper")
        self.done: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._snapshots: list[Path] = []

    def run(self) -> None:
        while not self._stopping.wait(self.rng.uniform(0.5, 1.5) * self.every):
            kind = self.rng.choice(self.kinds)
            with contextlib.suppress(OSError):  # the file may not be there yet, or gone
                getattr(self, f"_{kind}")()
                self.done[kind] += 1

    def stop(self) -> None:
        """Stop tampering, and drop the snapshots it took; return once it has stopped."""
        self._stopping.set()
        self.join()
        for snapshot in self._snapshots:
            snapshot.unlink(missing_ok=True)

    def _sibling(self, suffix: str) -> Path:
        return self.path.with_name(self.path.name + suffix)

    @contextlib.contextmanager
    def _locked(self) -> object:
        """The queue's exclusive lock, as a queue process holds it while it writes."""
        fd = os.open(self._sibling(".lock"), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _sync(self) -> None:
        path, choice = self._sibling(".sync"), self.rng.random()
        if choice < 0.2:
            path.unlink()
            return
        size = path.stat().st_size
        fd = os.open(path, os.O_WRONLY)
        try:
            if choice < 0.6:
                os.ftruncate(fd, self.rng.randrange(size + 1))
            else:
                at = self.rng.randrange(max(1, size))
                os.pwrite(fd, self.rng.randbytes(self.rng.randint(1, 148)), at)
        finally:
            os.close(fd)

    def _append_torn(self, path: Path, torn: bytes) -> None:
        with self._locked():
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, torn)
            finally:
                os.close(fd)

    def _claims(self) -> None:
        self._append_torn(self._sibling(".claims"), b'{"op":"claim","order":9')

    def _lines(self) -> None:
        self._append_torn(self.path, b'999999 1.000000 "half-writ')

    def _head(self) -> None:
        path = self._sibling(".head")
        with self._locked():
            raw = path.read_bytes()
            base = _HEAD_HEADER if raw.startswith(b"queue-head ") else 0
            counters = [int.from_bytes(raw[base + n * _SLOT:base + n * _SLOT + 8], "little")
                        for n in (0, 1)]
            older = 0 if counters[0] < counters[1] else 1  # the slot the next move writes
            fd = os.open(path, os.O_WRONLY)
            try:
                os.pwrite(fd, self.rng.randbytes(_SLOT), base + older * _SLOT)
            finally:
                os.close(fd)

    def _snapshot(self) -> None:
        stamp = len(self._snapshots)
        for suffix in ("", ".claims", ".head"):
            source = self._sibling(suffix)
            target = source.with_name(f".snapshot-{stamp}-{source.name}")
            with contextlib.suppress(FileNotFoundError):
                os.link(source, target)
                self._snapshots.append(target)
        while len(self._snapshots) > 3 * SNAPSHOTS_KEPT:
            self._snapshots.pop(0).unlink(missing_ok=True)
