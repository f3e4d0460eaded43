"""Checked file-changing calls: each one either did all it was asked or raises a
``StorageError`` (``QueueFullError`` for a full disk) naming the file, the call and the errno.

A write that stores fewer bytes than it was given (a full disk) counts as failed. Callers
undo what a failed call left behind (``append`` does it itself), so that an operation that
raised leaves the queue as it was.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .errors import short_write, storage_error


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
    status = os.fstat(fd)
    if status.st_nlink == 0:
        return True, status
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return True, status
    return (named.st_dev, named.st_ino) != (status.st_dev, status.st_ino), status
