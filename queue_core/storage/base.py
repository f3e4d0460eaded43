"""The contract every on-disk queue format keeps."""

from __future__ import annotations

import abc
from pathlib import Path


class Storage(abc.ABC):
    """One queue's data on disk, in one format.

    Items cross this interface as JSON text, already validated by the caller. The caller
    holds the queue's lock around every call: exclusive for ``initialize``, ``append`` and
    ``pop``, shared for ``count`` unless ``lock_free_count`` is true. A storage never caches
    state between calls, since another process may have changed the files in between.
    """

    #: True when ``count`` is correct without the lock (its files are only ever replaced
    #: whole); the queue then lets readers go without blocking or starving writers.
    lock_free_count: bool = False
    #: True when ``position`` can take a value again that it had before (the claims ledger
    #: must then settle a pending removal before any other change).
    positions_repeat: bool = False

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync

    @abc.abstractmethod
    def initialize(self) -> None:
        """Create an empty queue if there is none; clear what crashed writers left behind."""

    @abc.abstractmethod
    def append(self, encoded_item: str, put_at: float) -> None:
        """Atomically add one item at the tail; ``put_at`` is kept if the format can."""

    @abc.abstractmethod
    def pop(self) -> str | None:
        """Atomically remove the head item and return it, or return ``None`` when empty."""

    @abc.abstractmethod
    def peek(self) -> tuple[str, float | None] | None:
        """The head item and its put time (``None`` if unknown), or ``None`` when empty."""

    @abc.abstractmethod
    def position(self) -> object:
        """A JSON value naming the current state of the head: every ``pop`` changes it."""

    @abc.abstractmethod
    def count(self) -> int:
        """The number of items waiting."""

    def close(self) -> None:
        """Release the descriptors this object holds; the next call opens them again."""
        return None  # a format that keeps no descriptor between calls has none to release
