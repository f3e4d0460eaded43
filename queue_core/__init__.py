"""A multi-process FIFO queue kept in files, and the producer, consumer and monitor roles.

Standard library only: this package runs from a ConfigMap in a stock Python image.
"""

__version__ = "0.1.0"

from .claims import Claim, DeadLetter, QueueStats
from .errors import (
    ClaimError,
    CorruptQueueError,
    InvalidItemError,
    QueueDirectoryError,
    QueueError,
    QueueFullError,
    QueueNotFoundError,
    StorageError,
)
from .queue import FileQueue

__all__ = [
    "Claim",
    "ClaimError",
    "CorruptQueueError",
    "DeadLetter",
    "FileQueue",
    "InvalidItemError",
    "QueueDirectoryError",
    "QueueError",
    "QueueFullError",
    "QueueNotFoundError",
    "QueueStats",
    "StorageError",
]
