"""The built-in backends: this project's queue in each format, the original's queue, and the
mutants the selftest must catch. Each is a factory of the backend protocol."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from queue_core import FileQueue
from queue_core.storage import DEFAULT_FORMAT, FORMATS

from . import mutants
from .original import OriginalQueue
from .protocol import BackendFactory, QueueBackend

#: The file a built-in queue keeps in the run's directory (its other files sit beside it).
QUEUE_FILE = "tasks.json"


def _file_queue(fmt: str) -> BackendFactory:
    def open_file_queue(directory: Path, *, fsync: bool,
                        options: Mapping[str, Any]) -> QueueBackend:
        chosen = {k: v for k, v in options.items() if k in ("clock", "max_attempts")}
        return FileQueue(directory / QUEUE_FILE, fsync=fsync, format=fmt, **chosen)
    return open_file_queue


def _at_path(make: Callable[..., QueueBackend], takes_options: bool = False) -> BackendFactory:
    """A factory for a queue class that takes the queue file's path."""
    def open_at_path(directory: Path, *, fsync: bool,
                     options: Mapping[str, Any]) -> QueueBackend:
        extra = {k: v for k, v in options.items() if k in ("clock", "max_attempts")}
        return make(directory / QUEUE_FILE, fsync=fsync, **(extra if takes_options else {}))
    return open_at_path


def _storage_mutant(name: str) -> BackendFactory:
    """A queue of ``harness.disk.mutants``: a small journal with one storage defect, found
    by ``--faults`` or ``crashpoints``."""
    def open_mutant(directory: Path, *, fsync: bool,
                    options: Mapping[str, Any]) -> QueueBackend:
        from ..disk.mutants import QUEUES

        return QUEUES[name](directory / QUEUE_FILE, fsync=fsync, format=None, clock=None)
    return open_mutant


#: name: (factory, what it is); this project's queue, and the mutants of the stress selftest.
PRODUCT: dict[str, tuple[BackendFactory, str]] = {
    "filequeue": (_file_queue(DEFAULT_FORMAT), f"queue_core.FileQueue ({DEFAULT_FORMAT})"),
    **{f"filequeue-{fmt}": (_file_queue(fmt), f"queue_core.FileQueue ({fmt})")
       for fmt in FORMATS},
}
MUTANTS: dict[str, tuple[BackendFactory, str]] = {
    "mutant-no-lock": (_at_path(mutants.NoLockQueue), "no lock at all"),
    "mutant-replaced-lock": (_at_path(mutants.ReplacedLockQueue),
                             "lock on the data file that rename replaces"),
    "mutant-original": (_at_path(OriginalQueue), "the original's algorithm"),
    "mutant-racy-create": (_at_path(mutants.RacyCreateQueue), "non-exclusive creation"),
    "mutant-swapped-order": (_at_path(mutants.SwappedOrderQueue),
                             "a get that sometimes returns the second item"),
    "mutant-reset-claims": (_at_path(mutants.ResetClaimsQueue, takes_options=True),
                            "opening frees every claimed item"),
}
#: The mutants of the storage checks (``--faults``, ``crashpoints``): they need fault
#: injection, so they stay out of containers.
STORAGE_MUTANTS: dict[str, tuple[BackendFactory, str]] = {
    "mutant-ignores-short-writes": (_storage_mutant("mutant-ignores-short-writes"),
                                    "put ignores a short write"),
    "mutant-head-before-compaction": (_storage_mutant("mutant-head-before-compaction"),
                                      "get moves the head before compaction succeeds"),
    "mutant-trusts-unreadable-head": (_storage_mutant("mutant-trusts-unreadable-head"),
                                      "a torn head taken for a new queue"),
}
#: The backends whose code ships into containers: this project's queue and the original's
#: and the selftest's lock and order mutants (standard library and ``queue_core`` only).
CONTAINED: dict[str, tuple[BackendFactory, str]] = {**PRODUCT, **MUTANTS}
