"""FileQueue: a FIFO queue in one directory, shared safely by any number of processes."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import InvalidItemError, QueueDirectoryError
from .locking import FileLock
from .storage import DEFAULT_FORMAT, FORMATS

LOCK_SUFFIX = ".lock"


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
        with self._exclusive():
            self._storage.initialize()

    def put(self, item: Any) -> None:
        """Append ``item`` at the tail. Atomic; the queue is unchanged if it raises.

        Raises ``InvalidItemError`` (a ``TypeError``) for ``None`` and for anything
        ``json.dumps`` cannot encode, NaN and infinities included.
        """
        encoded = encode_item(item)
        with self._exclusive():
            self._storage.append(encoded)

    def get(self) -> Any | None:
        """Remove and return the oldest item, or return ``None`` when the queue is empty. Atomic."""
        with self._exclusive():
            encoded = self._storage.pop()
        return None if encoded is None else json.loads(encoded)

    def size(self) -> int:
        """The number of items waiting; never disturbed by concurrent writers."""
        if self._storage.lock_free_count:
            with _directory_errors(self.path.parent):
                return self._storage.count()
        with self._lock.shared(), _directory_errors(self.path.parent):
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

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._lock.exclusive(), _directory_errors(self.path.parent):
            yield


def encode_item(item: Any) -> str:
    """The JSON text for ``item``, or ``InvalidItemError`` saying why it cannot be queued."""
    if item is None:
        raise InvalidItemError("None cannot be queued: get() returns None to mean 'empty'")
    try:
        return json.dumps(item, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidItemError(
            f"item {item!r:.100} cannot be queued: it is not JSON-serialisable ({error})"
        ) from error


def _make_directory(directory: Path) -> None:
    with _directory_errors(directory):
        directory.mkdir(parents=True, exist_ok=True)


@contextmanager
def _directory_errors(directory: Path) -> Iterator[None]:
    try:
        yield
    except PermissionError as error:
        raise QueueDirectoryError(directory, f"permission denied ({error})") from error
    except FileExistsError as error:
        raise QueueDirectoryError(directory, "a file, not a directory, is in the way") from error
    except NotADirectoryError as error:
        raise QueueDirectoryError(directory, "a part of the path is not a directory") from error
    except OSError as error:
        if error.errno in (errno.EROFS, errno.ENOSPC, errno.EDQUOT):
            raise QueueDirectoryError(directory, os.strerror(error.errno)) from error
        raise
