"""litequeue: ``put``, ``pop()`` + ``done()``; claim = ``pop()``, nack = ``retry()``."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..protocol import QueueBackend
from .common import TAKE_BACK_MARGIN, PeerClaim, clock_of, shift_of


class LiteQueue:
    """litequeue: ``pop()`` + ``done()`` at most once; claim = pop, ack = done, nack = retry."""

    refused = ()  # done() and retry() refuse nothing

    def __init__(self, queue: Any, clock: Callable[[], float]) -> None:
        self.queue, self.clock = queue, clock

    def put(self, item: Any) -> None:
        self.queue.put(json.dumps(item))

    def get(self) -> Any | None:
        message = self.queue.pop()
        if message is None:
            return None
        self.queue.done(message.message_id)
        return json.loads(message.data)

    def size(self) -> int:
        return self.queue.qsize()

    def claim(self, lease: float) -> PeerClaim | None:
        shift = shift_of(self.clock)
        message = self.queue.pop()
        if message is None:
            for locked in self.queue.list_locked(max(0.0, lease + TAKE_BACK_MARGIN - shift)):
                self.queue.retry(locked.message_id)
            message = self.queue.pop()
        if message is None:
            return None
        at = message.lock_time / 1e9 + shift
        return PeerClaim(json.loads(message.data), f"{message.message_id}@{message.lock_time}",
                     None, at, at + lease, message.message_id)

    def ack(self, claim: PeerClaim) -> None:
        self.queue.done(claim.handle)

    def nack(self, claim: PeerClaim, delay: float = 0.0) -> None:
        self.queue.retry(claim.handle)  # no delayed retry in the library: delay is ignored

    def close(self) -> None:
        self.queue.close()


def litequeue(directory: Path, *, fsync: bool, options: Mapping[str, Any]) -> QueueBackend:
    from litequeue import LiteQueue as Library

    return LiteQueue(Library(str(directory / "queue.sqlite3")), clock_of(options))
