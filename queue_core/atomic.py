"""Whole-file writes that a reader or a crash never sees half done."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from . import diskio
from .errors import StorageError, storage_error

TEMP_MARK = ".tmp-"
#: The mode ``open()`` gives a new file, before the umask takes its share.
NEW_FILE_MODE = 0o666


def temp_prefix(path: Path) -> str:
    """The name prefix of the temporary files that ``write_atomic`` makes for ``path``."""
    return f".{path.name}{TEMP_MARK}"


def file_mode(path: Path) -> int:
    """The permission bits of ``path``, or, if it does not exist, those a file created now
    with ``open()`` would get: 0o666 less the process's umask. So every process sharing a queue
    keeps the modes of its files, and a group-writable queue (umask 002) stays so."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return NEW_FILE_MODE & ~current_umask()


def current_umask() -> int:
    """The process's umask (read from ``/proc`` where it can be, so that no other thread
    ever creates a file under a changed umask)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status",
                                                         encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old or the new file, never a mix.

    With ``fsync`` the new file's data is on disk before the rename, and the directory entry
    when this returns. A process killed part-way leaves at most a hidden temporary file beside
    ``path``; a failed call (``StorageError``) leaves ``path`` as it was, except when only the
    final directory sync failed: the rename was done, and the error's ``replaced`` is true.
    The file keeps the mode it had; a new one gets the mode ``open()`` would give it.
    """
    mode = file_mode(path)
    try:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path))
    except OSError as error:
        raise storage_error(path.parent, f"create a temporary file for {path.name} in",
                            error) from error
    try:
        try:
            diskio.chmod(fd, mode, Path(temp_name))
            diskio.write_all(fd, data, Path(temp_name))
            if fsync:
                diskio.fsync(fd, Path(temp_name))
        finally:
            os.close(fd)
        diskio.replace(temp_name, path)
    except BaseException:
        _remove_quietly(temp_name)
        raise
    if fsync:
        try:
            fsync_directory(path.parent)
        except StorageError as error:
            error.replaced = True
            raise


def fsync_directory(directory: Path) -> None:
    """Flush ``directory``'s entries (new names, renames) to disk."""
    diskio.fsync_directory(directory)


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
    with contextlib.suppress(OSError):
        os.unlink(path)
