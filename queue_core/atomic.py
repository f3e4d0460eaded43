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


def file_mode(path: Path, like: Path | None = None) -> int:
    """The permission bits of ``path``, or, if it does not exist, of ``like`` (a file of the
    same queue), or, if neither exists, those a file created now with ``open()`` would get:
    0o666 less the process's umask. So every process sharing a queue keeps the modes of its
    files, whatever its own umask, and a group-writable queue (umask 002) stays so."""
    reference = _status_of(path, like)
    if reference is None:
        return NEW_FILE_MODE & ~current_umask()
    return stat.S_IMODE(reference.st_mode)


def made_like(fd: int, like: Path | None) -> None:
    """Give the file ``fd``, just created by this process, the group and permission bits of
    ``like`` (a file of the same queue), whatever this process's umask; if ``like`` does not
    exist it keeps what ``open()`` gave it. Best effort: a group this process is not in
    stays its own."""
    reference = _status_of(like)
    if reference is not None:
        with contextlib.suppress(OSError):
            os.fchown(fd, -1, reference.st_gid)
        with contextlib.suppress(OSError):
            os.fchmod(fd, stat.S_IMODE(reference.st_mode))


def open_shared(path: Path, like: Path | None) -> int:
    """A read-write descriptor of ``path``, created if missing with the group and permission
    bits of ``like`` (``made_like``) by whichever process creates it. ``OSError`` as
    ``os.open``."""
    flags = os.O_RDWR | os.O_CLOEXEC
    while True:
        try:
            return os.open(path, flags)
        except FileNotFoundError:
            pass
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE)
        except FileExistsError:
            continue  # another process made it in between: open theirs
        made_like(fd, like)
        return fd


def _status_of(*paths: Path | None) -> os.stat_result | None:
    """The status of the first of ``paths`` that exists (``None`` if none does)."""
    for path in paths:
        if path is not None:
            with contextlib.suppress(OSError):
                return os.stat(path)
    return None


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


def write_atomic(path: Path, data: bytes, *, fsync: bool = False,
                 like: Path | None = None) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old or the new file, never a mix.

    With ``fsync`` the new file's data is on disk before the rename, and the directory entry
    when this returns. A process killed part-way leaves at most a hidden temporary file beside
    ``path``; a failed call (``StorageError``) leaves ``path`` as it was, except when only the
    final directory sync failed: the rename was done, and the error's ``replaced`` is true.
    The file keeps the mode and group it had; a new one gets those of ``like`` (a file of the
    same queue), else the mode ``open()`` would give it.
    """
    reference = _status_of(path, like)
    mode = (NEW_FILE_MODE & ~current_umask() if reference is None
            else stat.S_IMODE(reference.st_mode))
    try:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path))
    except OSError as error:
        raise storage_error(path.parent, f"create a temporary file for {path.name} in",
                            error) from error
    try:
        try:
            if reference is not None:  # its group too, so that the group keeps it shared
                with contextlib.suppress(OSError):
                    os.fchown(fd, -1, reference.st_gid)
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
