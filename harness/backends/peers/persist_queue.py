"""persist-queue: ``Queue`` (files), ``SQLiteQueue``, and ``SQLiteAckQueue`` (claim =
``get(raw=True)``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..protocol import QueueBackend
from .common import PeerClaim, clock_of, delivery_id


class PersistQueue:
    """persist-queue's ``Queue`` and ``SQLiteQueue``: ``get(block=False)`` then ``task_done()``."""

    def __init__(self, queue: Any, empty: type[Exception]) -> None:
        self.queue, self.empty = queue, empty

    def put(self, item: Any) -> None:
        self.queue.put(item)

    def get(self) -> Any | None:
        try:
            item = self.queue.get(block=False)
        except self.empty:
            return None
        self.queue.task_done()
        return item

    def size(self) -> int:
        return self.queue.qsize()


def persist_queue_file(directory: Path, *, fsync: bool,
                       options: Mapping[str, Any]) -> QueueBackend:
    import persistqueue

    return PersistQueue(persistqueue.Queue(str(directory / "persist-queue"), autosave=True),
                        persistqueue.Empty)


def persist_queue_sqlite(directory: Path, *, fsync: bool,
                         options: Mapping[str, Any]) -> QueueBackend:
    import persistqueue

    return PersistQueue(persistqueue.SQLiteQueue(str(directory), auto_commit=True,
                                                 multithreading=True), persistqueue.Empty)


class PersistAckQueue:
    """persist-queue's ``SQLiteAckQueue``: get + ack at most once, or claim/ack/nack."""

    refused = ()  # its ack and nack refuse nothing

    def __init__(self, queue: Any, empty: type[Exception], clock: Callable[[], float]) -> None:
        self.queue, self.empty, self.clock = queue, empty, clock

    def put(self, item: Any) -> None:
        self.queue.put(item)

    def get(self) -> Any | None:
        claim = self.claim(0.0)
        if claim is None:
            return None
        self.ack(claim)
        return claim.item

    def size(self) -> int:
        return self.queue.qsize()

    def claim(self, lease: float) -> PeerClaim | None:
        at = self.clock()
        try:
            raw = self.queue.get(block=False, raw=True)
        except self.empty:
            return None
        return PeerClaim(raw["data"], delivery_id(raw["pqid"]), None, at, None, raw["pqid"])

    def ack(self, claim: PeerClaim) -> None:
        self.queue.ack(id=claim.handle)

    def nack(self, claim: PeerClaim, delay: float = 0.0) -> None:
        self.queue.nack(id=claim.handle)  # no delayed nack in the library: delay is ignored


def persist_queue_sqlite_ack(directory: Path, *, fsync: bool,
                             options: Mapping[str, Any]) -> QueueBackend:
    import persistqueue

    queue = persistqueue.SQLiteAckQueue(str(directory), multithreading=True)
    return PersistAckQueue(queue, persistqueue.Empty, clock_of(options))
