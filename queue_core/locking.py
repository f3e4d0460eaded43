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

from . import diskio
from .errors import QueueDirectoryError

_open_locks: weakref.WeakSet[FileLock] = weakref.WeakSet()


class FileLock:
    """A reader-writer lock shared by every process, thread and forked child that opens ``path``.

    ``flock`` excludes open file descriptions, not processes, so each process keeps its own
    descriptor (a forked child opens a fresh one) and threads of one process are serialised
    by an ordinary thread lock first.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._thread_lock = threading.Lock()
        self._fd = _open_lock_file(self.path)
        self._exclusive = _Held(self, fcntl.LOCK_EX)
        self._shared = _Held(self, fcntl.LOCK_SH)
        _open_locks.add(self)

    def exclusive(self) -> _Held:
        """A context that holds the lock alone: no other holder, shared or exclusive, anywhere."""
        return self._exclusive

    def shared(self) -> _Held:
        """A context that holds the lock with other readers: no exclusive holder anywhere."""
        return self._shared

    def acquire(self, mode: int) -> None:
        """Take the lock in ``fcntl.LOCK_EX`` or ``fcntl.LOCK_SH`` mode; pair with ``release``."""
        self._thread_lock.acquire()
        try:
            fd = self._fd
            if fd is None:
                fd = self._fd = _open_lock_file(self.path)
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
        return os.lseek(self._descriptor(), 0, os.SEEK_END) > 0

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = _open_lock_file(self.path)
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


class _Held:
    """``with lock.exclusive():`` without a generator's overhead on the hot path."""

    __slots__ = ("lock", "mode")

    def __init__(self, lock: FileLock, mode: int) -> None:
        self.lock = lock
        self.mode = mode

    def __enter__(self) -> None:
        self.lock.acquire(self.mode)

    def __exit__(self, *exc_info: object) -> None:
        self.lock.release()


def _open_lock_file(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except FileNotFoundError as error:
        raise QueueDirectoryError(path.parent, "it does not exist") from error
    except NotADirectoryError as error:
        raise QueueDirectoryError(path.parent, "it is not a directory") from error
    except PermissionError as error:
        raise QueueDirectoryError(
            path.parent, f"no permission to create or open the lock file {path.name}"
        ) from error
    except OSError as error:
        reason = ("it is on a read-only file system: the queue needs to write its lock file "
                  f"{path.name}" if error.errno == errno.EROFS else
                  f"cannot create or open the lock file {path.name} ({error})")
        raise QueueDirectoryError(path.parent, reason) from error


def _reset_all_after_fork() -> None:
    for lock in list(_open_locks):
        lock._reset_after_fork()


os.register_at_fork(after_in_child=_reset_all_after_fork)
