"""The contract every on-disk queue format keeps."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any


class Storage(abc.ABC):
    """One queue's data on disk, in one format.

    A format writes the primitives (``initialize``, ``append_many``, ``pop_many``,
    ``peek_many``, ``position``, ``count``); the single-item forms are written here, once,
    on the batch forms.

    Items go in as JSON text, already validated by the caller (``append_many``), and come out
    as values (``pop_many``, ``peek_many``), decoded before anything changes: an item that
    cannot be decoded raises ``CorruptQueueError`` naming the file, and is not removed. The caller
    holds the queue's exclusive lock around every call, except ``count`` when
    ``lock_free_count`` is true: then ``count`` may run unlocked, beside writers. A storage may
    keep descriptors and what it read between calls, but another process may change the files
    in between: under the lock it checks that they are still the ones it read (their size,
    their generation) before it trusts what it kept.
    """

    #: True when ``count`` is correct without the lock (its files are only ever replaced
    #: whole); the queue then lets readers go without blocking or starving writers.
    lock_free_count: bool = False
    #: True when ``position`` can take a value again that it had before (the claims ledger
    #: must then resolve a pending removal before any other change).
    positions_repeat: bool = False

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync

    @property
    def queue_id(self) -> str | None:
        """The random name this queue's files were given at creation, or ``None`` for a
        format that cannot keep one: the claims ledger carries it too, so that a file left
        from another queue is refused."""
        return None

    def open_read_only(self) -> None:  # noqa: B027 (a format that keeps no descriptor)
        """Instead of ``initialize``: open for reading only; no call changes a file after it."""

    def describe(self) -> dict[str, object]:
        """The format's name and what its files say about themselves (version, generation)."""
        return {"format": type(self).__name__}

    def files(self) -> list[Path]:
        """This format's files, to be moved away together to start an empty queue."""
        return [self.path]

    @abc.abstractmethod
    def initialize(self) -> None:
        """Create an empty queue if there is none; clear what crashed writers left behind."""

    @abc.abstractmethod
    def append_many(self, encoded_items: list[str], put_at: float) -> None:
        """Add ``encoded_items`` at the tail in one change (one write, one fsync): on failure
        none of them is added; ``put_at`` is kept if the format can."""

    @abc.abstractmethod
    def pop_many(self, count: int) -> list[Any]:
        """Remove up to ``count`` items from the head in one change and return them, oldest
        first (empty when the queue is empty); on failure none is removed."""

    @abc.abstractmethod
    def peek_many(self, count: int) -> list[tuple[Any, float | None]]:
        """Up to ``count`` items from the head and their put times (``None`` if unknown),
        oldest first."""

    def append(self, encoded_item: str, put_at: float) -> None:
        """Atomically add one item at the tail."""
        self.append_many([encoded_item], put_at)

    def pop(self) -> Any | None:
        """Atomically remove the head item and return it, or return ``None`` when empty."""
        taken = self.pop_many(1)
        return taken[0] if taken else None

    def peek(self) -> tuple[Any, float | None] | None:
        """The head item and its put time (``None`` if unknown), or ``None`` when empty."""
        heads = self.peek_many(1)
        return heads[0] if heads else None

    @abc.abstractmethod
    def position(self) -> object:
        """A JSON value naming the current state of the head: every ``pop`` changes it."""

    @abc.abstractmethod
    def count(self) -> int:
        """The number of items waiting."""

    def take_back(self) -> None:  # noqa: B027 (a format that syncs each change at once)
        """Holding the lock, before any change: take back what a failed group commit left
        (see ``groupcommit``). A format that syncs each change before returning has nothing
        to do."""

    def commit(self) -> None:  # noqa: B027 (a format that syncs each change at once)
        """After the lock is released: return once this thread's changes since its last
        ``commit`` are durable (with ``fsync``). ``StorageError`` if that failed; ``take_back``
        then takes them back. A format that syncs each change at once has nothing to do."""

    def close(self) -> None:
        """Release the descriptors this object holds; the next call opens them again."""
        return None  # a format that keeps no descriptor between calls has none to release
