"""The queue's lock: ``flock`` on a file that is never replaced or removed.

This is the only module that calls ``flock``. Because the lock file keeps its inode for
the life of the queue, every process that opens it locks the same file, however often
the data file beside it is replaced (defect 10 of the original).
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import weakref
from pathlib import Path
from typing import Any, Protocol

from . import diskio
from .atomic import open_shared
from .errors import QueueDirectoryError, storage_error

_open_locks: weakref.WeakSet[FileLock] = weakref.WeakSet()


class FileLock:
    """An exclusive lock shared by every process, thread and forked child that opens ``path``.

    ``flock`` excludes open file descriptions, not processes, so each process keeps its own
    descriptor (a forked child opens a fresh one) and threads of one process are serialised
    by an ordinary thread lock first.
    """

    def __init__(self, path: Path, like: Path | None = None) -> None:
        self.path = Path(path)
        #: A file whose group and permission bits the lock file takes if this creates it.
        self.like = like
        self._thread_lock = threading.Lock()
        self._fd = _open_lock_file(self.path, like)
        self._exclusive = Held(self)
        _open_locks.add(self)

    def exclusive(self, errors: ErrorTranslation | None = None) -> Held:
        """A context that holds the lock alone, nobody else anywhere; with ``errors``, that
        context also sees every exception raised inside, after the lock is released."""
        return self._exclusive if errors is None else Held(self, errors)

    def acquire(self, mode: int = fcntl.LOCK_EX) -> None:
        """Take the lock (``fcntl.LOCK_EX``); pair with ``release``."""
        self._thread_lock.acquire()
        try:
            fd = self._fd
            if fd is None:
                fd = self._fd = _open_lock_file(self.path, self.like)
            fcntl.flock(fd, mode)
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        """Give the lock back."""
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def raise_flag(self, *, fsync: bool = False) -> None:
        """Set the lock file's one flag, for good (it becomes non-empty). Call it holding the lock.

        The queue raises it before its first claim, so that a queue without claims learns that
        it has none from one cheap system call on a descriptor it already holds. With
        ``fsync`` the flag is on disk when this returns. ``StorageError`` if it cannot be set.
        """
        fd = self._descriptor()
        diskio.pwrite(fd, b"1", 0, self.path)
        if fsync:
            diskio.fsync(fd, self.path)

    def flag_raised(self) -> bool:
        """True once any process raised the flag."""
        try:
            return os.lseek(self._descriptor(), 0, os.SEEK_END) > 0
        except OSError as error:
            raise storage_error(self.path, "read", error) from error

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = _open_lock_file(self.path, self.like)
        return self._fd

    def close(self) -> None:
        """Release the descriptor; the lock file itself stays."""
        with self._thread_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _reset_after_fork(self) -> None:
        # The inherited descriptor shares its open file description (and so its flock)
        # with the parent, and the inherited thread lock may be held by a thread that
        # does not exist here: the child starts over with its own.
        self._thread_lock = threading.Lock()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class ErrorTranslation(Protocol):
    """A context manager whose ``__exit__`` may replace an exception with a clearer one."""

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> Any: ...


class Held:
    """``with lock.exclusive():``, and the error translation of the caller, in one step and
    without a generator's overhead on the hot path."""

    __slots__ = ("errors", "lock")

    def __init__(self, lock: FileLock, errors: ErrorTranslation | None = None) -> None:
        self.lock = lock
        self.errors = errors

    def __enter__(self) -> None:
        self.lock.acquire(fcntl.LOCK_EX)

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> Any:
        self.lock.release()
        if self.errors is not None:
            return self.errors.__exit__(kind, error, tb)
        return None


def _open_lock_file(path: Path, like: Path | None) -> int:
    try:
        return open_shared(path, like)
    except FileNotFoundError as error:
        raise QueueDirectoryError(path.parent, "it does not exist") from error
    except NotADirectoryError as error:
        raise QueueDirectoryError(path.parent, "it is not a directory") from error
    except PermissionError as error:
        raise QueueDirectoryError(
            path.parent, f"no permission to create or open the lock file {path.name}"
        ) from error
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):  # no inode left: a full disk
            raise storage_error(path, "create", error) from error
        reason = ("it is on a read-only file system: the queue needs to write its lock file "
                  f"{path.name}" if error.errno == errno.EROFS else
                  f"cannot create or open the lock file {path.name} ({error})")
        raise QueueDirectoryError(path.parent, reason) from error


def _reset_all_after_fork() -> None:
    for lock in list(_open_locks):
        lock._reset_after_fork()


os.register_at_fork(after_in_child=_reset_all_after_fork)
