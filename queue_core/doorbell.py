"""The queue's doorbell: a named FIFO that puts ring and waiters sleep on.

The FIFO is ``/dev/shm/filequeue-<device>-<inode>-<token>.bell``, named after the queue's lock
file and the random token it holds (``queue_core.locking``), so that every process and
container of the same kernel that opens the queue (through any path) finds the same FIFO (the
containers of a Pod share ``/dev/shm``), and a later queue whose lock file gets the same inode
never finds an old queue's (whose owner or mode may keep it out, silently). It is kept out
of the queue's directory, whose files are all regular files that tools may read (a FIFO would
block them). Every ``FileQueue`` that rings or waits holds it open for
reading and writing without blocking (Linux allows ``O_RDWR`` on a FIFO), so a ring is one
non-blocking ``write`` of one byte that never fails for want of a reader and is dropped when
the pipe is full. A waiter empties the pipe, checks the queue, and then sleeps in ``poll``
until a byte arrives or its bounded wait ends: a ring that comes after the check stays in the
pipe, so the waiter wakes at once. Every process of the same kernel that opens the FIFO shares
the pipe (containers of a Pod sharing the volume too).

The doorbell only shortens waits; correctness never depends on it. A waiter can miss a ring
when another waiter emptied the pipe first, or when the file system cannot hold a FIFO (then
there is no doorbell at all, and the process says so once in its log, ``queue_core.doorbell``);
it re-checks the queue at least every ``RECHECK_SECONDS``. FIFOs stay in ``/dev/shm`` after
their queue's processes end; ``remove_bell`` removes a queue's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import stat
from pathlib import Path

from .locking import lock_token

log = logging.getLogger("queue_core.doorbell")

#: Where the FIFOs are made; a queue whose FIFO cannot be made there has no doorbell.
BELL_DIRECTORY = Path("/dev/shm")
#: The longest a waiter sleeps without looking at the queue again (a missed ring costs at most
#: this much delay).
RECHECK_SECONDS = 1.0
#: How many rings a waiter that took an item passes on to the other waiters at most.
_PASS_ON_MAX = 64
_RING = b"\1"
#: The FIFOs this process said it cannot use (it says so once for each).
_reported: set[Path] = set()


def bell_path(identity: str, token: str | None) -> Path:
    """The FIFO of the queue whose lock file is ``identity`` (``device:inode``) and holds
    ``token`` (``None``: a lock file without one, as older versions name it)."""
    name = identity.replace(":", "-") + ("" if token is None else f"-{token}")
    return BELL_DIRECTORY / f"filequeue-{name}.bell"


def bell_of(lock_path: Path) -> Path | None:
    """The FIFO's path for the queue whose lock file is ``lock_path`` (``None``: no such
    file)."""
    try:
        status = os.stat(lock_path)
    except OSError:
        return None
    return bell_path(f"{status.st_dev}:{status.st_ino}", lock_token(Path(lock_path)))


def remove_bell(lock_path: Path) -> None:
    """Remove the FIFO of the queue whose lock file is ``lock_path``, if there is one (for a
    queue that nobody uses any more: a process still waiting on it falls back to looking at
    its queue every ``RECHECK_SECONDS``). Never raises."""
    path = bell_of(lock_path)
    with contextlib.suppress(OSError):
        if path is not None and stat.S_ISFIFO(os.lstat(path).st_mode):
            os.unlink(path)


class Doorbell:
    """One process's handle on a queue's FIFO; every call is best effort and never raises."""

    def __init__(self, identity: str, like: Path | None = None,
                 token: str | None = None) -> None:
        #: The FIFO, named after the queue's identity (its lock file's device and inode) and
        #: the token in its lock file.
        self.path = bell_path(identity, token)
        #: The queue's lock file: a FIFO this process makes takes its group and permission
        #: bits (a stricter umask must not keep the others from opening it).
        self._like = like
        self._fd: int | None = None
        #: True once the FIFO turned out to be unusable here: no more attempts.
        self._unusable = False

    def ring(self, times: int = 1) -> None:
        """Wake the processes waiting on this queue (a byte per ring; dropped when full)."""
        fd = self._fd
        if fd is None:
            fd = self._open()
            if fd is None:
                return
        try:
            os.write(fd, _RING if times == 1 else _RING * times)
        except BlockingIOError:
            # The pipe is full: nobody waited for a long while. Empty it, keeping one ring,
            # so that the next rings are plain writes (an exception per put costs more).
            with contextlib.suppress(OSError):
                os.read(fd, 1 << 20)
                os.write(fd, b"\1")
        except OSError:
            pass

    def drain(self) -> int:
        """Empty the pipe: forget the rings so far; how many there were."""
        fd = self._fd if self._fd is not None else self._open()
        rings = 0
        if fd is None:
            return 0
        with contextlib.suppress(OSError):  # EAGAIN: empty
            while True:
                chunk = os.read(fd, 65536)
                rings += len(chunk)
                if len(chunk) < 65536:
                    break
        return rings

    def pass_on(self, rings: int) -> None:
        """After taking one item woken by ``rings`` rings, ring for the other puts."""
        if rings > 1:
            self.ring(min(rings - 1, _PASS_ON_MAX))

    def wait(self, seconds: float) -> bool:
        """Sleep until a ring or for ``seconds`` (at most ``RECHECK_SECONDS``); True if rung."""
        seconds = min(max(seconds, 0.0), RECHECK_SECONDS)
        fd = self._fd if self._fd is not None else self._open()
        if fd is None:
            select.select([], [], [], seconds)
            return False
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(seconds * 1000))

    def close(self) -> None:
        """Release the descriptor; the FIFO stays."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def _share(self) -> None:
        """The FIFO just made takes the lock file's group and permission bits (best effort)."""
        try:
            like = os.stat(self._like) if self._like is not None else None
        except OSError:
            like = None
        if like is None:
            return
        with contextlib.suppress(OSError):
            os.chown(self.path, -1, like.st_gid)
        with contextlib.suppress(OSError):
            os.chmod(self.path, stat.S_IMODE(like.st_mode))

    def _open(self) -> int | None:
        if self._unusable:
            return None
        flags = os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            try:
                fd = os.open(self.path, flags)
            except FileNotFoundError:
                with contextlib.suppress(FileExistsError):
                    os.mkfifo(self.path, 0o666)
                    self._share()
                fd = os.open(self.path, flags)
        except OSError as error:  # no FIFOs on this file system, no permission
            return self._give_up(f"it cannot be made or opened: {error.strerror}")
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):  # never write into someone's file
            os.close(fd)
            return self._give_up("something other than a FIFO is at its name")
        self._fd = fd
        return fd

    def _give_up(self, reason: str) -> None:
        """No more attempts to use the FIFO; said once in the log for each FIFO."""
        self._unusable = True
        if self.path not in _reported:
            _reported.add(self.path)
            log.warning("the doorbell %s cannot be used (%s): waiters look at the queue every "
                        "%s s instead of waking at a put", self.path, reason, RECHECK_SECONDS)
