"""The queue's directory: made when missing, and the errors that mean it cannot be used turned
into ``QueueDirectoryError`` naming it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import CorruptQueueError, QueueDirectoryError


def make_directory(directory: Path) -> bool:
    """Create ``directory`` (and its parents) if missing; whether it was missing."""
    with DirectoryErrors(directory, []):
        if directory.is_dir():
            return False
        directory.mkdir(parents=True, exist_ok=True)
        return True


class DirectoryErrors:
    """Turns the ``OSError`` that mean an unusable directory into ``QueueDirectoryError``,
    and makes a ``CorruptQueueError``'s advice name every file of the queue there is."""

    __slots__ = ("directory", "files")

    def __init__(self, directory: Path, files: list[Path]) -> None:
        self.directory = directory
        self.files = files

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, _tb: object) -> None:
        if isinstance(error, CorruptQueueError):
            named = [f for f in self.files if f == error.path or f in error.move_away
                     or f.exists()]
            error.move_away = named + [f for f in error.move_away if f not in named]
            error.args = (error.path, error.problem, error.move_away)
        elif isinstance(error, OSError):
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
