"""dirq's ``QueueSimple``: a directory of elements, taken by locking one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..protocol import QueueBackend


class DirqSimple:
    """dirq's ``QueueSimple``: ``add``; take = the first element this process can ``lock``,
    ``get`` then ``remove``; ``count``."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def put(self, item: Any) -> None:
        self.queue.add(json.dumps(item).encode())

    def get(self) -> Any | None:
        name = self.queue.first()
        while name:
            if self.queue.lock(name):
                data = self.queue.get(name)
                self.queue.remove(name)
                return json.loads(data)
            name = self.queue.next()
        return None

    def size(self) -> int:
        return self.queue.count()


def dirq_simple(directory: Path, *, fsync: bool, options: Mapping[str, Any]) -> QueueBackend:
    from dirq.QueueSimple import QueueSimple

    return DirqSimple(QueueSimple(str(directory / "dirq")))
