"""diskcache's ``Deque``: ``append`` and ``popleft``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..protocol import QueueBackend


class DiskcacheDeque:
    """``diskcache.Deque``: ``append`` / ``popleft``."""

    def __init__(self, deque: Any) -> None:
        self.deque = deque

    def put(self, item: Any) -> None:
        self.deque.append(item)

    def get(self) -> Any | None:
        try:
            return self.deque.popleft()
        except IndexError:
            return None

    def size(self) -> int:
        return len(self.deque)

    def close(self) -> None:
        self.deque.cache.close()


def diskcache_deque(directory: Path, *, fsync: bool,
                    options: Mapping[str, Any]) -> QueueBackend:
    import diskcache

    return DiskcacheDeque(diskcache.Deque(directory=str(directory / "deque")))
