"""FileQueue: a FIFO queue in one directory, shared safely by any number of processes."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from .errors import InvalidItemError, QueueDirectoryError
from .locking import FileLock
from .storage import DEFAULT_FORMAT, FORMATS

LOCK_SUFFIX = ".lock"
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


class FileQueue:
    """A persistent FIFO queue of JSON values kept at ``path``.

    Every operation is atomic and serialised across processes, threads and containers that
    share the directory: it holds an ``flock`` on ``path + ".lock"`` (a file that is never
    replaced) and re-reads the data under it. Changes replace files atomically, so a reader
    or a process killed at any instant never sees or leaves a partial queue. With
    ``fsync=True`` a change is on disk before the call returns.

    Items go through JSON: ``get()`` returns what ``json.loads`` gives back (a tuple comes
    back as a list).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, fsync: bool = False, format: str = DEFAULT_FORMAT
    ) -> None:
        if format not in FORMATS:
            raise ValueError(
                f"unknown queue format {format!r}; choose one of {', '.join(sorted(FORMATS))}"
            )
        self.path = Path(path)
        self.fsync = fsync
        self.format = format
        _make_directory(self.path.parent)
        self._lock = FileLock(self.path.with_name(self.path.name + LOCK_SUFFIX))
        self._storage = FORMATS[format](self.path, fsync=fsync)
        self._errors = _DirectoryErrors(self.path.parent)
        with self._lock.exclusive(), self._errors:
            self._storage.initialize()

    def put(self, item: Any) -> None:
        """Append ``item`` at the tail. Atomic; the queue is unchanged if it raises.

        Raises ``InvalidItemError`` (a ``TypeError``) for ``None`` and for anything
        ``json.dumps`` cannot encode, NaN and infinities included.
        """
        encoded = encode_item(item)
        with self._lock.exclusive(), self._errors:
            self._storage.append(encoded)

    def get(self) -> Any | None:
        """Remove and return the oldest item, or return ``None`` when the queue is empty. Atomic."""
        with self._lock.exclusive(), self._errors:
            encoded = self._storage.pop()
        return None if encoded is None else json.loads(encoded)

    def size(self) -> int:
        """The number of items waiting; never disturbed by concurrent writers."""
        if self._storage.lock_free_count:
            with self._errors:
                return self._storage.count()
        with self._lock.shared(), self._errors:
            return self._storage.count()

    def close(self) -> None:
        """Release this object's lock descriptor; the queue on disk is untouched."""
        self._lock.close()

    def __enter__(self) -> FileQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FileQueue({str(self.path)!r}, fsync={self.fsync}, format={self.format!r})"



def encode_item(item: Any) -> str:
    """The JSON text for ``item``, or ``InvalidItemError`` saying why it cannot be queued."""
    if item is None:
        raise InvalidItemError("None cannot be queued: get() returns None to mean 'empty'")
    try:
        return _ENCODER.encode(item)
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidItemError(
            f"item {item!r:.100} cannot be queued: it is not JSON-serialisable ({error})"
        ) from error


def _make_directory(directory: Path) -> None:
    with _DirectoryErrors(directory):
        directory.mkdir(parents=True, exist_ok=True)


class _DirectoryErrors:
    """Turns the ``OSError`` that mean an unusable directory into ``QueueDirectoryError``."""

    __slots__ = ("directory",)

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, _tb: object) -> None:
        if isinstance(error, OSError):
            translated = _directory_problem(error)
            if translated is not None:
                raise QueueDirectoryError(self.directory, translated) from error


def _directory_problem(error: OSError) -> str | None:
    if isinstance(error, PermissionError):
        return f"permission denied ({error})"
    if isinstance(error, FileExistsError):
        return "a file, not a directory, is in the way"
    if isinstance(error, NotADirectoryError):
        return "a part of the path is not a directory"
    if error.errno in (errno.EROFS, errno.ENOSPC, errno.EDQUOT):
        return os.strerror(error.errno)
    return None
