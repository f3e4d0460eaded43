"""The queue's doorbell: a named FIFO that puts ring and waiters sleep on.

The FIFO is ``/dev/shm/filequeue-<device>-<inode>.bell``, named after the queue's lock file,
so that every process and container of the same kernel that opens the queue (through any path)
finds the same FIFO; the containers of a Pod share ``/dev/shm``. It is kept out of the queue's
directory, whose files are all regular files that tools may read (a FIFO would block them).
Every ``FileQueue`` that rings or waits holds it open for
reading and writing without blocking (Linux allows ``O_RDWR`` on a FIFO), so a ring is one
non-blocking ``write`` of one byte that never fails for want of a reader and is dropped when
the pipe is full. A waiter empties the pipe, checks the queue, and then sleeps in ``poll``
until a byte arrives or its bounded wait ends: a ring that comes after the check stays in the
pipe, so the waiter wakes at once. Every process of the same kernel that opens the FIFO shares
the pipe (containers of a Pod sharing the volume too).

The doorbell only shortens waits; correctness never depends on it. A waiter can miss a ring
when another waiter emptied the pipe first, or when the file system cannot hold a FIFO (then
there is no doorbell at all); it re-checks the queue at least every ``RECHECK_SECONDS``.
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
from pathlib import Path

#: Where the FIFOs are made; a queue whose FIFO cannot be made there has no doorbell.
BELL_DIRECTORY = Path("/dev/shm")
#: The longest a waiter sleeps without looking at the queue again (a missed ring costs at most
#: this much delay).
RECHECK_SECONDS = 1.0
#: How many rings a waiter that took an item passes on to the other waiters at most.
_PASS_ON_MAX = 64
_RING = b"\1"


class Doorbell:
    """One process's handle on a queue's FIFO; every call is best effort and never raises."""

    def __init__(self, identity: str, like: Path | None = None) -> None:
        #: The FIFO, named after the queue's identity (its lock file's device and inode).
        self.path = BELL_DIRECTORY / f"filequeue-{identity.replace(':', '-')}.bell"
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
        except OSError:  # no FIFOs on this file system, no permission: waiters re-check
            self._unusable = True
            return None
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):  # never write into someone's file
            os.close(fd)
            self._unusable = True
            return None
        self._fd = fd
        return fd
