"""Checked file calls: each one either did all it was asked or raises a ``StorageError``
(``QueueFullError`` for a full disk) naming the file, the call and the errno.

A write that stores fewer bytes than it was given (a full disk) counts as failed. Callers
undo what a failed call left behind (``append`` does it itself), so that an operation that
raised leaves the queue as it was. The reads a queue makes (``pread``, ``fstat``, ``dup``,
``open_regular``) name their file the same way when they fail (a stale handle on a shared
file system, an I/O error), and a queue file that is not a regular file (a FIFO, which would
block a reader for ever) is refused as damage.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from .errors import CorruptQueueError, short_write, storage_error


def append(fd: int, data: bytes, path: Path, size: int) -> None:
    """Append ``data`` to the ``O_APPEND`` file ``fd`` whose size is ``size``; on failure the
    file is cut back to ``size`` before the error is raised."""
    try:
        written = os.write(fd, data)
    except OSError as error:
        cut_back(fd, size)
        raise storage_error(path, "append to", error) from error
    if written != len(data):
        cut_back(fd, size)
        raise short_write(path, "append to", written, len(data))


def pwrite(fd: int, data: bytes, offset: int, path: Path) -> None:
    """Write all of ``data`` at ``offset``."""
    try:
        written = os.pwrite(fd, data, offset)
    except OSError as error:
        raise storage_error(path, "write", error) from error
    if written != len(data):
        raise short_write(path, "write", written, len(data))


def write_all(fd: int, data: bytes, path: Path) -> None:
    """Write all of ``data`` at the file position (a new file's contents)."""
    view = memoryview(data)
    try:
        written = os.write(fd, view)
    except OSError as error:
        raise storage_error(path, "write", error) from error
    if written != len(data):
        raise short_write(path, "write", written, len(data))


def chmod(fd: int, mode: int, path: Path) -> None:
    """Set the file's permission bits."""
    try:
        os.fchmod(fd, mode)
    except OSError as error:
        raise storage_error(path, "chmod", error) from error


def fsync(fd: int, path: Path) -> None:
    """Flush the file's data to disk."""
    try:
        os.fsync(fd)
    except OSError as error:
        raise storage_error(path, "fsync", error) from error


def truncate(fd: int, size: int, path: Path) -> None:
    """Cut the file to ``size`` bytes."""
    try:
        os.ftruncate(fd, size)
    except OSError as error:
        raise storage_error(path, "truncate", error) from error


def replace(source: str | Path, target: Path) -> None:
    """Rename ``source`` over ``target`` in one step."""
    try:
        os.replace(source, target)
    except OSError as error:
        raise storage_error(target, "rename a new version over", error) from error


def fsync_directory(directory: Path) -> None:
    """Flush ``directory``'s entries (new names, renames) to disk."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise storage_error(directory, "open the directory", error) from error
    try:
        fsync(fd, directory)
    finally:
        os.close(fd)


def cut_back(fd: int, size: int) -> None:
    """Best effort: remove what a failed append left after ``size``. If even this fails, the
    leftover has no final newline, so every reader ignores it and the next append cuts it."""
    with contextlib.suppress(OSError):
        os.ftruncate(fd, size)


def replaced(fd: int, path: Path) -> tuple[bool, os.stat_result]:
    """Whether the file open as ``fd`` is no longer the one named ``path`` (renamed over,
    removed, moved away), and its status. Told by identity (device and inode), not by link
    count: another name (a backup by hard link) keeps a replaced file's count above zero."""
    status = fstat(fd, path)
    if status.st_nlink == 0:
        return True, status
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return True, status
    except OSError as error:
        raise storage_error(path, "read the status of", error) from error
    return (named.st_dev, named.st_ino) != (status.st_dev, status.st_ino), status


def pread(fd: int, size: int, offset: int, path: Path) -> bytes:
    """Up to ``size`` bytes of the file ``fd`` from ``offset``."""
    try:
        return os.pread(fd, size, offset)
    except OSError as error:
        raise storage_error(path, "read", error) from error


def fstat(fd: int, path: Path) -> os.stat_result:
    """The status of the open file ``fd``."""
    try:
        return os.fstat(fd)
    except OSError as error:
        raise storage_error(path, "read the status of", error) from error


def dup(fd: int, path: Path) -> int:
    """A second descriptor of the file ``fd`` (none left: ``StorageError`` EMFILE)."""
    try:
        return os.dup(fd)
    except OSError as error:
        raise storage_error(path, "take a descriptor of", error) from error


def open_regular(path: Path, flags: int, move_away: Sequence[Path] = ()) -> int:
    """``os.open`` of a queue file that must be a regular file. Opened without blocking, and
    refused with ``CorruptQueueError`` (naming ``move_away`` as its files to move) if it is a
    FIFO, a directory or a device; ``FileNotFoundError`` and ``PermissionError`` as
    ``os.open`` raises them (the caller knows what they mean), any other failure a
    ``StorageError`` naming it."""
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, PermissionError):
        raise
    except OSError as error:
        raise storage_error(path, "open", error) from error
    try:
        mode = fstat(fd, path).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a directory" if stat.S_ISDIR(mode)
                    else "a device or a socket")
            raise CorruptQueueError(path, f"it is {kind}, not a regular file",
                                    list(move_away) or [path])
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: Path, move_away: Sequence[Path] = ()) -> bytes:
    """The bytes of the regular file ``path`` (as ``open_regular`` opens it)."""
    fd = open_regular(path, os.O_RDONLY, move_away)
    try:
        chunks, offset = [], 0
        while chunk := pread(fd, 1 << 20, offset, path):
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
