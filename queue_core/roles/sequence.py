"""Task ids that stay unique across producer restarts and across producers."""

from __future__ import annotations

from pathlib import Path

from ..atomic import remove_stale_temp_files, write_atomic
from ..directory import check_name_length
from ..errors import CorruptQueueError
from ..locking import FileLock


class IdSequence:
    """A counter in a small file, shared by every process that opens it.

    ``next()`` never returns the same number twice for one file, whoever calls it and
    however often callers restart; a caller killed after taking a number leaves a gap.
    """

    def __init__(self, path: Path, *, fsync: bool = False, like: Path | None = None) -> None:
        self.path = Path(path)
        self.fsync = fsync
        #: The files this makes take the group and permission bits of ``like`` (the queue's
        #: file), or of the ids file, never this process's umask alone.
        self.like = like
        check_name_length(self.path, [".lock"])
        self._lock = FileLock(self.path.with_name(self.path.name + ".lock"),
                              like=like or self.path)
        with self._lock.exclusive():
            remove_stale_temp_files(self.path)

    def next(self) -> int:
        """The next number, starting at 1."""
        with self._lock.exclusive():
            value = self._read() + 1
            write_atomic(self.path, f"{value}\n".encode(), fsync=self.fsync, like=self.like)
        return value

    def _read(self) -> int:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return 0
        try:
            value = int(text)
        except ValueError as error:
            problem = f"expected one integer, found {text!r:.40}"
            raise CorruptQueueError(self.path, problem) from error
        if value < 0:
            raise CorruptQueueError(self.path, f"expected a non-negative integer, found {value}")
        return value

    def close(self) -> None:
        """Release the lock descriptor."""
        self._lock.close()
