"""Whole-file writes that a reader or a crash never sees half done."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

TEMP_MARK = ".tmp-"


def temp_prefix(path: Path) -> str:
    """The name prefix of the temporary files that ``write_atomic`` makes for ``path``."""
    return f".{path.name}{TEMP_MARK}"


def write_atomic(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old or the new file, never a mix.

    With ``fsync`` the data and the directory entry are on disk when this returns.
    A process killed part-way leaves at most a hidden temporary file beside ``path``.
    """
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path))
    try:
        with os.fdopen(fd, "wb") as temp_file:
            os.fchmod(temp_file.fileno(), 0o644)
            temp_file.write(data)
            if fsync:
                temp_file.flush()
                os.fsync(temp_file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        _remove_quietly(temp_name)
        raise
    if fsync:
        fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Flush ``directory``'s entries (new names, renames) to disk."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Delete the temporary files that killed writers left beside ``path``; return them.

    Only safe while holding the lock that every writer of ``path`` holds.
    """
    prefix = temp_prefix(path)
    removed = []
    with os.scandir(path.parent) as entries:
        for entry in entries:
            if entry.name.startswith(prefix):
                _remove_quietly(entry.path)
                removed.append(Path(entry.path))
    return removed


def _remove_quietly(path: os.PathLike | str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
