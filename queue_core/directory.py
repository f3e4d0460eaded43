"""The queue's directory: made when missing, names too long for it refused, and the errors that
mean it cannot be used turned into ``QueueDirectoryError`` naming it."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path

from .atomic import TEMP_MARK
from .errors import CorruptQueueError, QueueDirectoryError

#: The longest file name where the file system cannot say, and the length of the random
#: part of a temporary file's name (``tempfile.mkstemp``).
_NAME_MAX = 255
_TEMP_RANDOM = 8


def check_name_length(path: Path, suffixes: Sequence[str]) -> None:
    """``ValueError`` naming the limit unless every file made beside ``path`` fits the file
    system's longest name: ``path``'s name with each of ``suffixes``, and the temporary files
    of each (``.<name><suffix>.tmp-XXXXXXXX``). Call it once the directory exists."""
    try:
        name_max = os.pathconf(path.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = _NAME_MAX
    longest = max(suffixes, key=len)
    extra = len(f".{longest}{TEMP_MARK}") + _TEMP_RANDOM
    size = len(os.fsencode(path.name))
    if size + extra > name_max:
        raise ValueError(f"the name {path.name[:40]!r}... is {size} bytes long; at most "
                         f"{name_max - extra} fit: files named .<name>{longest}{TEMP_MARK}"
                         f"{'X' * _TEMP_RANDOM} are made beside it, and this file system "
                         f"takes names of at most {name_max} bytes")


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
            if isinstance(error, FileNotFoundError) and not self.directory.is_dir():
                translated = "it no longer exists (removed while the queue was open)"
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
