"""The exceptions raised by ``queue_core``: one root, one class per kind of problem."""

from __future__ import annotations

import errno as errno_codes
import os
from collections.abc import Sequence
from pathlib import Path


class QueueError(Exception):
    """Root of every error this package raises on purpose."""


class CorruptQueueError(QueueError):
    """A queue file exists but does not hold a valid queue, or does not belong to the queue
    beside it.

    Every file is left exactly as it was found, so that nothing is lost: inspect it
    (``python -m queue_core.inspect``), repair or move the queue's files away, then open the
    queue again. ``move_away`` lists the files to move away together to start an empty queue.
    """

    def __init__(self, path: Path | str, problem: str,
                 move_away: Sequence[Path | str] = ()) -> None:
        self.path = Path(path)
        self.problem = problem
        self.move_away = [Path(p) for p in move_away] or [self.path]
        super().__init__(path, problem, self.move_away)  # what pickling passes back

    def __str__(self) -> str:
        names = ", ".join(str(p) for p in self.move_away)
        advice = (f"stop every process using the queue, then move {names} away together"
                  if len(self.move_away) > 1 else f"move {names} away")
        return (f"queue file {self.path} is corrupt: {self.problem}; it was left untouched: "
                f"repair it, or {advice} to start an empty queue")


class QueueDirectoryError(QueueError):
    """The directory that holds the queue cannot be created, read or written."""

    def __init__(self, directory: Path | str, reason: str) -> None:
        self.directory = Path(directory)
        self.reason = reason
        super().__init__(f"cannot use queue directory {self.directory}: {reason}")


class StorageError(QueueError):
    """A write, truncate, rename or sync of a queue file failed (I/O error, read-only file
    system, no permission, full disk, short write). The operation that raised it changed
    nothing: the queue is as it was before the call; unless ``outcome_unknown`` is true: then
    whether its change stays is not known (it may have happened), and the message says so."""

    #: Set by ``write_atomic`` when only the final directory sync failed: the new file is
    #: already in place, and a caller that must leave things unchanged puts the old one back.
    replaced: bool = False
    #: True when the operation's change may have happened (it may be in the queue, or not):
    #: what became of it can no longer be told (a damaged record of its sync, an undo that
    #: failed too). False for every other ``StorageError``: nothing changed.
    outcome_unknown: bool = False

    def __init__(self, path: Path | str, operation: str, errno: int, detail: str = "", *,
                 outcome_unknown: bool = False) -> None:
        self.path = Path(path)
        self.operation = operation
        self.errno = errno
        self.detail = detail or os.strerror(errno)
        if outcome_unknown:
            self.outcome_unknown = True  # an instance attribute: pickling keeps it
        super().__init__(path, operation, errno, detail)  # what pickling passes back

    def __str__(self) -> str:
        name = errno_codes.errorcode.get(self.errno, str(self.errno))
        outcome = ("the operation may have happened: whether its change stays is not known"
                   if self.outcome_unknown else "the queue was left as it was before the call")
        return f"cannot {self.operation} {self.path}: [{name}] {self.detail}; {outcome}"


class QueueFullError(StorageError):
    """The file system holding the queue is full or over quota (ENOSPC, EDQUOT, or a write
    cut short). Nothing was changed; free space and retry."""


class QueueNotFoundError(QueueError):
    """There is no queue at a path that was only to be read: nothing was created there.

    ``FileQueue`` creates a missing queue; a reader such as the monitor checks first, so that a
    mistyped path is reported instead of turning into a new, empty queue.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(path, reason)  # what pickling passes back

    def __str__(self) -> str:
        return f"no queue at {self.path}: {self.reason}; nothing was created"


class InvalidItemError(QueueError, TypeError):
    """An item cannot be queued (it is not JSON-serialisable, or it is ``None``)."""


class ClaimError(QueueError):
    """A claim can no longer be acknowledged, given back or extended: the queue is unchanged.

    Its lease ended and the item was delivered again, it was acknowledged or given back
    already, or its item went to the dead letters.
    """


def storage_error(path: Path | str, operation: str, error: OSError) -> StorageError:
    """The ``StorageError`` (a ``QueueFullError`` for a full disk) for ``error``."""
    code = error.errno or errno_codes.EIO
    kind = QueueFullError if code in (errno_codes.ENOSPC, errno_codes.EDQUOT) else StorageError
    return kind(path, operation, code, error.strerror or "")


def short_write(path: Path | str, operation: str, written: int, wanted: int) -> QueueFullError:
    """The error for a write that stored only ``written`` of ``wanted`` bytes."""
    return QueueFullError(path, operation, errno_codes.ENOSPC,
                          f"short write: {written} of {wanted} bytes written "
                          "(the file system is full)")
