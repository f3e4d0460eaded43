"""The exceptions raised by ``queue_core``: one root, one class per kind of problem."""

from __future__ import annotations

from pathlib import Path


class QueueError(Exception):
    """Root of every error this package raises on purpose."""


class CorruptQueueError(QueueError):
    """The queue file exists but does not hold a valid queue.

    The file is left exactly as it was found, so that nothing is lost: inspect it,
    repair or move it away, then open the queue again.
    """

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(
            f"queue file {self.path} is corrupt: {problem}; it was left untouched, "
            "repair it or move it away to start an empty queue"
        )


class QueueDirectoryError(QueueError):
    """The directory that holds the queue cannot be created, read or written."""

    def __init__(self, directory: Path | str, reason: str) -> None:
        self.directory = Path(directory)
        self.reason = reason
        super().__init__(f"cannot use queue directory {self.directory}: {reason}")


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
