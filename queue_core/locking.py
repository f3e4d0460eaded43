"""The queue's lock: ``flock`` on a file that is never replaced or removed.

This is the only module that calls ``flock``. Because the lock file keeps its inode for
the life of the queue, every process that opens it locks the same file, however often
the data file beside it is replaced (defect 10 of the original).

The lock file holds 17 bytes: the "claims exist" flag (``0``, then ``1`` for good), and a
random token of 16 hexadecimal digits that names the queue's doorbell (``queue_core.doorbell``:
a later queue whose lock file gets the same inode gets another token, so it never shares an
old queue's FIFO). It is created whole: written to a temporary file that is then linked to
its name, so whoever opens it finds both (on a file system without hard links it is created
empty, and the first queue to open it writes the token under the lock). A lock file of an
older version (empty, or the flag alone) gets its token the same way.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any, Protocol

from . import diskio
from .atomic import NEW_FILE_MODE, current_umask, made_like, open_shared, temp_prefix
from .errors import QueueDirectoryError, QueueError, StorageError, storage_error

#: The lock file: the flag (one byte), then the token (16 hexadecimal digits).
_RAISED, _LOWERED = b"1", b"0"
_TOKEN_SIZE = 16
_SIZE = 1 + _TOKEN_SIZE
#: What ``link`` raises on a file system without hard links.
_NO_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS)

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
        """Set the lock file's flag, for good (its first byte becomes ``1``). Call it holding
        the lock.

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
        return diskio.pread(self._descriptor(), 1, 0, self.path) == _RAISED

    def token(self) -> str | None:
        """The queue's token (see the module docstring); one written now if the lock file has
        none (an older version's, or one a file system without hard links made empty). Call
        it holding the lock. ``None`` if none can be written (a full disk: the doorbell then
        uses the name an older version gives it)."""
        fd = self._descriptor()
        found = _token_in(diskio.pread(fd, _SIZE, 0, self.path))
        if found is not None:
            return found
        flag = diskio.pread(fd, 1, 0, self.path) or _LOWERED
        token = secrets.token_hex(_TOKEN_SIZE // 2)
        try:
            diskio.pwrite(fd, flag + token.encode(), 0, self.path)
        except StorageError:
            return None
        return token

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


def lock_token(path: Path) -> str | None:
    """The token in the lock file ``path`` (``None``: none, or no such file)."""
    try:
        return _token_in(diskio.read_regular(path))
    except (OSError, QueueError):
        return None


def _token_in(raw: bytes) -> str | None:
    token = raw[1:_SIZE]
    if len(raw) < _SIZE or not all(c in b"0123456789abcdef" for c in token):
        return None
    return token.decode()


def _open_lock_file(path: Path, like: Path | None) -> int:
    try:
        try:
            return os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            _create_whole(path, like)
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
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


def _create_whole(path: Path, like: Path | None) -> None:
    """Create the lock file with its flag lowered and a new token, in one step: a temporary
    file linked to its name (another process that links first wins; this one's goes). The
    group and mode of ``like``, else those ``open()`` gives. ``OSError`` as ``os.open``."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path))
    try:
        os.fchmod(fd, NEW_FILE_MODE & ~current_umask())
        made_like(fd, like)
        os.write(fd, _LOWERED + secrets.token_hex(_TOKEN_SIZE // 2).encode())
        os.close(fd)
        fd = -1
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
        except FileNotFoundError:  # its temporary file was taken for a crashed one's
            if not os.path.exists(path):
                raise
        except OSError as error:
            if error.errno not in _NO_LINKS:
                raise
            with contextlib.suppress(FileExistsError):  # the token comes with the first open
                os.close(open_shared(path, like))
    finally:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp)


def _reset_all_after_fork() -> None:
    for lock in list(_open_locks):
        lock._reset_after_fork()


os.register_at_fork(after_in_child=_reset_all_after_fork)
