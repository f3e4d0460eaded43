"""A multi-process FIFO queue kept in files, and the producer, consumer and monitor roles.

Standard library only: this package runs from a ConfigMap in a stock Python image.
"""

__version__ = "0.1.0"

from .errors import CorruptQueueError, InvalidItemError, QueueDirectoryError, QueueError
from .queue import FileQueue

__all__ = [
    "CorruptQueueError",
    "FileQueue",
    "InvalidItemError",
    "QueueDirectoryError",
    "QueueError",
]
