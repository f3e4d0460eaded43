"""The registry of queues the harness can stress, by name: the product's formats, the original
and the mutants."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from queue_core import FileQueue
from queue_core.storage import DEFAULT_FORMAT, FORMATS

from . import mutants
from .original import OriginalQueue


class QueueLike(Protocol):
    """What the harness calls: FileQueue's API."""

    def put(self, item: Any) -> None: ...
    def get(self) -> Any | None: ...
    def size(self) -> int: ...


Opener = Callable[..., QueueLike]


def _file_queue(fmt: str) -> Opener:
    return lambda path, fsync, **options: FileQueue(path, fsync=fsync, format=fmt, **options)


PRODUCT: dict[str, Opener] = {
    "filequeue": _file_queue(DEFAULT_FORMAT),
    **{f"filequeue-{fmt}": _file_queue(fmt) for fmt in FORMATS},
}
MUTANTS: dict[str, Opener] = {
    "mutant-no-lock": lambda path, fsync: mutants.NoLockQueue(path, fsync=fsync),
    "mutant-replaced-lock": lambda path, fsync: mutants.ReplacedLockQueue(path, fsync=fsync),
    "mutant-original": lambda path, fsync: OriginalQueue(path, fsync=fsync),
    "mutant-racy-create": lambda path, fsync: mutants.RacyCreateQueue(path, fsync=fsync),
    "mutant-swapped-order": lambda path, fsync: mutants.SwappedOrderQueue(path, fsync=fsync),
    "mutant-reset-claims": lambda path, fsync, **options: mutants.ResetClaimsQueue(
        path, fsync=fsync, **options),
}


def _storage_mutant(name: str) -> Opener:
    """A queue of ``harness.storage_mutants`` (a small journal with one storage defect): found
    by ``--faults`` or ``crashpoints``."""
    def open_mutant(path: Path, fsync: bool) -> QueueLike:
        from ..storage_mutants import QUEUES

        return QUEUES[name](path, fsync=fsync, format=None, clock=None)
    return open_mutant


MUTANTS.update({name: _storage_mutant(name) for name in (
    "mutant-ignores-short-writes", "mutant-head-before-compaction",
    "mutant-trusts-unreadable-head")})
#: The backends with ``claim``/``ack``/``nack`` (FileQueue's API), for ``--delivery at-least-once``.
CLAIMING = frozenset({*PRODUCT, "mutant-reset-claims"})
BACKENDS: dict[str, Opener] = {**PRODUCT, **MUTANTS}


def open_backend(name: str, path: Path, fsync: bool = False, **options: Any) -> QueueLike:
    """Open the queue ``name`` at ``path``; ``ValueError`` naming the known ones otherwise.

    ``options`` (``clock``, ``max_attempts``) go to the backends in ``CLAIMING``.
    """
    try:
        opener = BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"unknown backend {name!r}; choose one of {', '.join(sorted(BACKENDS))}"
        ) from None
    return opener(path, fsync, **options)
