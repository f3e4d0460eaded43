"""queuelib's ``FifoDiskQueue`` and ``FifoSQLiteQueue``: ``push``, ``pop``, ``close``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..protocol import QueueBackend


class QueuelibQueue:
    """A queuelib queue: ``push`` / ``pop`` / ``len`` / ``close``."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def put(self, item: Any) -> None:
        self.queue.push(json.dumps(item).encode())

    def get(self) -> Any | None:
        data = self.queue.pop()
        return None if data is None else json.loads(data)

    def size(self) -> int:
        return len(self.queue)

    def close(self) -> None:
        self.queue.close()


def queuelib_fifo_disk(directory: Path, *, fsync: bool,
                       options: Mapping[str, Any]) -> QueueBackend:
    from queuelib import FifoDiskQueue

    return QueuelibQueue(FifoDiskQueue(str(directory / "fifo")))


def queuelib_fifo_sqlite(directory: Path, *, fsync: bool,
                         options: Mapping[str, Any]) -> QueueBackend:
    from queuelib.queue import FifoSQLiteQueue

    return QueuelibQueue(FifoSQLiteQueue(str(directory / "fifo.sqlite3")))
