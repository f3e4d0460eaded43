"""A read-only health report of a queue's files: ``python -m queue_core.inspect PATH [--json]``.

It prints the queue's files, format, generation, its waiting / in-flight / delayed / dead
counts, the oldest waiting item's age and any damage found, without changing any file: it
opens every file for reading only, creates nothing, and holds the queue's lock shared while
it reads (so that no operation is half done under it), or reads without it after
``--lock-timeout`` seconds and says so. Exit status: 0 healthy, 1 damaged, 2 the path is not
a usable queue (missing, a directory, a FIFO, unreadable).
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import os
import stat
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import TEMP_MARK
from .claims import QueueStats, stats_of
from .errors import QueueError
from .ledger import CLAIMS_SUFFIX, Ledger
from .queue import LOCK_SUFFIX
from .storage import FORMATS
from .storage.journal import HEAD_SUFFIX
from .storage.journal import MAGIC as JOURNAL_MAGIC

HEALTHY, DAMAGED, UNUSABLE = 0, 1, 2
#: The files a queue may have, by suffix of the queue file's name (".ids": the producer's).
SUFFIXES = ("", HEAD_SUFFIX, CLAIMS_SUFFIX, LOCK_SUFFIX, ".ids")


class UnusablePath(Exception):
    """The path names no queue that can be read."""


@dataclass
class Report:
    """What ``inspect_queue`` found."""

    path: Path
    #: Format name, version, generation, queue id (those the format has).
    details: dict[str, Any] = field(default_factory=dict)
    #: Size in bytes of each of the queue's files, ``None`` for a missing one.
    files: dict[str, int | None] = field(default_factory=dict)
    stats: QueueStats | None = None
    damage: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> int:
        return DAMAGED if self.damage else HEALTHY

    def as_json(self) -> dict[str, Any]:
        counts = self.stats._asdict() if self.stats is not None else {}
        return {"path": str(self.path), **self.details, "files": self.files, **counts,
                "damage": self.damage, "notes": self.notes,
                "verdict": "damaged" if self.damage else "healthy"}

    def as_text(self) -> str:
        details = self.details
        described = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in details.items()
                              if k != "format" and v is not None)
        lines = [f"queue: {self.path}",
                 f"format: {details.get('format', 'unknown')}"
                 + (f" ({described})" if described else ""), "files:"]
        width = max(len(name) for name in self.files)
        for name, size in self.files.items():
            shown = "missing" if size is None else f"{size:>9,} byte{'s' * (size != 1)}"
            lines.append(f"  {name:<{width}}  {shown}")
        if self.stats is not None:
            s = self.stats
            age = ("none" if s.oldest_waiting_age is None
                   else f"{s.oldest_waiting_age:.1f} s")
            lines.append(f"items: {s.waiting} waiting, {s.in_flight} in flight, "
                         f"{s.delayed} delayed, {s.dead} dead; oldest waiting item's age: {age}")
        lines += [f"note: {note}" for note in self.notes]
        lines += [f"damage: {problem}" for problem in self.damage] or ["damage: none"]
        lines.append(f"verdict: {'damaged' if self.damage else 'healthy'}")
        return "\n".join(lines)


def inspect_queue(path: str | os.PathLike[str], *, max_attempts: int = 5,
                  now: float | None = None, lock_timeout: float = 5.0) -> Report:
    """Read the queue at ``path`` without changing any file; ``UnusablePath`` if there is no
    readable queue file there."""
    real = Path(os.path.realpath(path))
    _check_usable(real)
    report = Report(real)
    for suffix in SUFFIXES:
        named = real.with_name(real.name + suffix)
        report.files[named.name] = named.stat().st_size if named.exists() else None
    leftovers = sorted(p.name for p in real.parent.iterdir()
                       if p.name.startswith(f".{real.name}") and TEMP_MARK in p.name)
    if leftovers:
        report.notes.append(f"temporary files of interrupted writes (removed on the next "
                            f"open): {', '.join(leftovers)}")
    with _SharedLock(real.with_name(real.name + LOCK_SUFFIX), lock_timeout, report):
        _read(real, report, max_attempts, time.time() if now is None else now)
    return report


def _check_usable(real: Path) -> None:
    if real.is_dir():
        raise UnusablePath(f"{real} is a directory; give the queue file (e.g. {real}/tasks.json)")
    if not real.parent.is_dir():
        raise UnusablePath(f"the directory {real.parent} does not exist")
    if not real.exists():
        raise UnusablePath(f"there is no queue file {real}")
    if not real.is_file():  # a FIFO: open() would block for ever
        kind = "a FIFO" if stat.S_ISFIFO(real.stat().st_mode) else "a device or a socket"
        raise UnusablePath(f"{real} is {kind}, not a regular file")
    if not os.access(real, os.R_OK):
        raise UnusablePath(f"no permission to read {real}")


def _read(real: Path, report: Report, max_attempts: int, now: float) -> None:
    with open(real, "rb") as data:
        start = data.read(64)
        first = start.lstrip()
        while not first:  # blank space so far: a JSON array may still follow
            more = data.read(4096)
            if not more:
                break
            first = more.lstrip()
    if start.startswith(b'{"format":"' + JOURNAL_MAGIC.encode()):
        queue_format = "journal"
    elif first.startswith(b"["):
        queue_format = "json-array"
    else:
        report.details["format"] = "unknown"
        report.damage.append(f"{real.name} is neither a journal nor a JSON array "
                             f"(it starts with {start[:32]!r})")
        return
    storage = FORMATS[queue_format](real)
    ledger = Ledger(real, read_only=True)
    try:
        storage.open_read_only()
        report.details.update(storage.describe())
        ledger.queue_id = storage.queue_id
        state = ledger.load()
        if state is not None and not _flag_raised(real.with_name(real.name + LOCK_SUFFIX)):
            report.notes.append("the lock file's claims flag is missing (lost in a power "
                                "loss?): the next open raises it again from the ledger")
        cut_short = state is not None and state.pending is not None \
            and storage.position() == state.pending
        if cut_short and state.pending_order is not None:
            # A claim whose item never left the storage: the next operation takes its
            # ledger entry back, so the item counts once, as waiting (see claims.py).
            entries = {o: e for o, e in state.entries.items() if o != state.pending_order}
            state = dataclasses.replace(state, entries=entries)
        stats = stats_of(storage, state, now, max_attempts)
        if cut_short and state.pending_order is None:
            # A ledger that names no pending order: the next operation finishes the move.
            stats = stats._replace(waiting=stats.waiting - 1)
        report.stats = stats
    except QueueError as error:
        report.details.setdefault("format", queue_format)
        report.damage.append(str(error))
    except OSError as error:
        report.details.setdefault("format", queue_format)
        report.damage.append(f"cannot read the queue's files: {error}")
    finally:
        ledger.close()
        close = getattr(storage, "close", None)  # formats that hold descriptors
        if close is not None:
            close()


def _flag_raised(lock: Path) -> bool:
    """Whether the lock file's "claims exist" flag is raised (``queue_core.locking``)."""
    try:
        with open(lock, "rb") as flag:
            return flag.read(1) == b"1"
    except OSError:
        return False


class _SharedLock:
    """The queue's lock, shared, for at most ``timeout`` seconds of waiting; never created."""

    def __init__(self, path: Path, timeout: float, report: Report) -> None:
        self.path, self.timeout, self.report = path, timeout, report
        self.fd: int | None = None

    def __enter__(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            self.report.notes.append(f"no lock file {self.path.name}: read without the lock")
            return
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.report.notes.append(f"the lock was held for over {self.timeout} s: "
                                             "read without it (figures may be mid-change)")
                    return
                time.sleep(0.01)

    def __exit__(self, *exc_info: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock


def main(argv: Sequence[str] | None = None) -> int:
    """The ``queue-inspect`` command."""
    parser = argparse.ArgumentParser(
        prog="python -m queue_core.inspect",
        description="Report a queue's files, counts and damage without changing anything. "
                    "Exit status: 0 healthy, 1 damaged, 2 not a usable queue path.")
    parser.add_argument("path", help="the queue file, e.g. /shared-queue/tasks.json")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--max-attempts", type=int, default=5,
                        help="the queue's max_attempts, to count spent items as dead "
                             "(default: 5)")
    parser.add_argument("--lock-timeout", type=float, default=5.0,
                        help="seconds to wait for the queue's lock (default: 5)")
    args = parser.parse_args(argv)
    try:
        report = inspect_queue(args.path, max_attempts=args.max_attempts,
                               lock_timeout=args.lock_timeout)
    except UnusablePath as error:
        if args.json:
            print(json.dumps({"path": args.path, "verdict": "unusable", "error": str(error)}))
        else:
            print(f"queue-inspect: {error}", file=sys.stderr)
        return UNUSABLE
    print(json.dumps(report.as_json()) if args.json else report.as_text())
    return report.status


if __name__ == "__main__":
    sys.exit(main())
