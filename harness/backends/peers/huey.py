"""huey's storages (``FileStorage``, ``SqliteStorage``) as queues: ``enqueue``, ``dequeue``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..protocol import QueueBackend


class HueyStorage:
    """A huey storage's queue API: ``enqueue`` / ``dequeue`` / ``queue_size``."""

    def __init__(self, storage: Any) -> None:
        self.storage = storage

    def put(self, item: Any) -> None:
        self.storage.enqueue(json.dumps(item).encode())

    def get(self) -> Any | None:
        data = self.storage.dequeue()
        return None if data is None else json.loads(data)

    def size(self) -> int:
        return self.storage.queue_size()


def huey_file(directory: Path, *, fsync: bool, options: Mapping[str, Any]) -> QueueBackend:
    from huey.storage import FileStorage

    return HueyStorage(FileStorage("harness", str(directory / "huey")))


def huey_sqlite(directory: Path, *, fsync: bool, options: Mapping[str, Any]) -> QueueBackend:
    from huey.storage import SqliteStorage

    return HueyStorage(SqliteStorage("harness", filename=str(directory / "huey.db")))
