"""Adapters for the peers: the local, persistent queues people reach for, each a few lines over
the library's own API (never a re-implementation), opened through the backend protocol.

A peer's library is imported inside its factory, so a missing one costs nothing until it is
used; ``Peer.missing()`` says in one line what to install. Items are JSON-encoded where the
library stores bytes or text, and given as they are where it pickles.

At least once, where the library has it (``claim`` returns a ``Claim``):

- persist-queue's ``SQLiteAckQueue``: ``get(raw=True)`` claims, ``ack(id=)`` / ``nack(id=)``.
  It has no lease and numbers no deliveries: ``attempt`` and ``until`` are ``None`` (the
  delivery checker then numbers an item's deliveries in the order they returned, and takes a
  redelivery as the queue's recovery only after a nack or the death of the holder). Unacked
  items come back when a process opens the queue (``auto_resume=True``, the library's
  default and its only way back for the items of a consumer that died).
- litequeue: ``pop()`` claims (the message is LOCKED at ``lock_time``), ``done()`` acks,
  ``retry()`` nacks; a lock older than the lease is taken back with ``list_locked()`` then
  ``retry()``, the library's calls for that. No attempt count: ``attempt`` is ``None``.
- Redis streams with a consumer group: ``XREADGROUP`` claims, ``XACK`` (+ ``XDEL``) acks,
  ``XAUTOCLAIM`` takes back expired leases, and ``XPENDING`` gives the delivery count
  (``attempt``); an ``XACK`` that finds nothing pending is refused (``ClaimEnded``).

The harness's clock (``options["clock"]``) may run ahead of the wall clock (the final drain
looks an hour ahead): the adapters with leases shorten their "expired" threshold by that shift,
so that every lease has ended for the drain as it has for the harness.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ClaimEnded
from .protocol import BackendFactory, QueueBackend

#: Environment variable holding the Redis URL the redis-* backends talk to (inherited by the
#: worker processes); ``harness stress --redis-server auto|URL`` sets it.
REDIS_URL_ENV = "HARNESS_REDIS_URL"
#: A lease is taken back this long after it ended, so that the client's clock (``until``) and
#: the server's (its idle times) agree on which came first.
TAKE_BACK_MARGIN = 0.05


@dataclass
class Claim:
    """One delivery: the item, an id unique to this delivery, and what the library tells of it.

    ``attempt`` (1 for the first delivery) and ``until`` (when the lease ends, on the options'
    clock) are ``None`` when the library does not know them."""

    item: Any
    id: str
    attempt: int | None
    claimed_at: float
    until: float | None
    handle: Any = None


def _clock(options: Mapping[str, Any]) -> Callable[[], float]:
    return options.get("clock") or time.time


def _shift(clock: Callable[[], float]) -> float:
    """How far ``clock`` runs ahead of the wall clock (0 for the wall clock itself)."""
    return max(0.0, clock() - time.time())


_deliveries = itertools.count(1)


def _delivery_id(key: Any) -> str:
    """An id for one delivery of ``key`` where the library gives none per delivery."""
    return f"{key}/{os.getpid()}/{next(_deliveries)}"


# persist-queue ---------------------------------------------------------------------------


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

    def claim(self, lease: float) -> Claim | None:
        at = self.clock()
        try:
            raw = self.queue.get(block=False, raw=True)
        except self.empty:
            return None
        return Claim(raw["data"], _delivery_id(raw["pqid"]), None, at, None, raw["pqid"])

    def ack(self, claim: Claim) -> None:
        self.queue.ack(id=claim.handle)

    def nack(self, claim: Claim, delay: float = 0.0) -> None:
        self.queue.nack(id=claim.handle)  # no delayed nack in the library: delay is ignored


def persist_queue_sqlite_ack(directory: Path, *, fsync: bool,
                             options: Mapping[str, Any]) -> QueueBackend:
    import persistqueue

    queue = persistqueue.SQLiteAckQueue(str(directory), multithreading=True)
    return PersistAckQueue(queue, persistqueue.Empty, _clock(options))


# litequeue ---------------------------------------------------------------------------------


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

    def claim(self, lease: float) -> Claim | None:
        shift = _shift(self.clock)
        message = self.queue.pop()
        if message is None:
            for locked in self.queue.list_locked(max(0.0, lease + TAKE_BACK_MARGIN - shift)):
                self.queue.retry(locked.message_id)
            message = self.queue.pop()
        if message is None:
            return None
        at = message.lock_time / 1e9 + shift
        return Claim(json.loads(message.data), f"{message.message_id}@{message.lock_time}",
                     None, at, at + lease, message.message_id)

    def ack(self, claim: Claim) -> None:
        self.queue.done(claim.handle)

    def nack(self, claim: Claim, delay: float = 0.0) -> None:
        self.queue.retry(claim.handle)  # no delayed retry in the library: delay is ignored

    def close(self) -> None:
        self.queue.close()


def litequeue(directory: Path, *, fsync: bool, options: Mapping[str, Any]) -> QueueBackend:
    from litequeue import LiteQueue as Library

    return LiteQueue(Library(str(directory / "queue.sqlite3")), _clock(options))


# diskcache, huey, queuelib, dirq, kombu ----------------------------------------------------


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


class KombuSimpleQueue:
    """kombu's ``SimpleQueue`` on the ``filesystem://`` transport: ``put``; ``get(block=False)``
    then ``ack()``; ``qsize()``."""

    def __init__(self, connection: Any, queue: Any) -> None:
        self.connection, self.queue = connection, queue

    def put(self, item: Any) -> None:
        self.queue.put(item)

    def get(self) -> Any | None:
        try:
            message = self.queue.get(block=False)
        except self.queue.Empty:
            return None
        message.ack()
        return message.payload

    def size(self) -> int:
        return self.queue.qsize()

    def close(self) -> None:
        self.queue.close()
        self.connection.release()


def kombu_filesystem(directory: Path, *, fsync: bool,
                     options: Mapping[str, Any]) -> QueueBackend:
    from kombu import Connection

    folder = directory / "kombu"
    folder.mkdir(exist_ok=True)
    connection = Connection("filesystem://", transport_options={
        "data_folder_in": str(folder), "data_folder_out": str(folder),
        "control_folder": str(directory / "kombu-control")})
    # A name of its own per folder: a process that declared a queue of the same name on
    # another folder (the harness's probe) would otherwise route every put to that folder's
    # bindings, and the items would vanish.
    name = "harness-" + hashlib.sha1(str(directory).encode()).hexdigest()[:16]
    return KombuSimpleQueue(connection, connection.SimpleQueue(name))


# Redis -------------------------------------------------------------------------------------


def _redis(directory: Path) -> tuple[Any, str]:
    """A client of the server named by ``HARNESS_REDIS_URL``, and this run's key."""
    import redis

    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        raise RuntimeError(f"no Redis server: pass --redis-server auto (or a URL), or set "
                           f"{REDIS_URL_ENV}")
    return redis.Redis.from_url(url), f"harness:{directory}"


class RedisList:
    """A Redis list: ``RPUSH`` / ``LPOP`` / ``LLEN``."""

    def __init__(self, client: Any, key: str) -> None:
        self.client, self.key = client, key

    def put(self, item: Any) -> None:
        self.client.rpush(self.key, json.dumps(item))

    def get(self) -> Any | None:
        data = self.client.lpop(self.key)
        return None if data is None else json.loads(data)

    def size(self) -> int:
        return self.client.llen(self.key)

    def close(self) -> None:
        self.client.close()


def redis_list(directory: Path, *, fsync: bool, options: Mapping[str, Any]) -> QueueBackend:
    return RedisList(*_redis(directory))


class RedisStream:
    """A Redis stream read by one consumer group: ``XADD``; claim = ``XAUTOCLAIM`` of an
    expired lease, else ``XREADGROUP``; ack = ``XACK`` + ``XDEL``; nack = ``XCLAIM`` that makes
    the entry look expired after ``delay``."""

    GROUP = "harness"
    refused = (ClaimEnded,)

    def __init__(self, client: Any, key: str, clock: Callable[[], float]) -> None:
        import redis

        self.client, self.key, self.clock = client, key, clock
        self.consumer = f"consumer-{os.getpid()}"
        with contextlib.suppress(redis.ResponseError):  # BUSYGROUP: another process made it
            client.xgroup_create(key, self.GROUP, id="0", mkstream=True)

    def put(self, item: Any) -> None:
        self.client.xadd(self.key, {"item": json.dumps(item)})

    def get(self) -> Any | None:
        claim = self._read(0.0, self.clock())
        if claim is None:
            return None
        self.ack(claim)
        return claim.item

    def size(self) -> int:
        return self.client.xlen(self.key)

    def claim(self, lease: float) -> Claim | None:
        at = self.clock()
        idle = max(0.0, lease + TAKE_BACK_MARGIN - _shift(self.clock))
        _, taken, *_ = self.client.xautoclaim(self.key, self.GROUP, self.consumer,
                                              int(idle * 1000), "0-0", count=1)
        for entry_id, fields in taken:
            if fields:
                pending = self.client.xpending_range(self.key, self.GROUP, entry_id, entry_id, 1)
                attempt = pending[0]["times_delivered"] if pending else None
                return self._claim(entry_id, fields, attempt, at, lease)
        return self._read(lease, at)

    def _read(self, lease: float, at: float) -> Claim | None:
        answer = self.client.xreadgroup(self.GROUP, self.consumer, {self.key: ">"}, count=1)
        for _, entries in answer or ():
            for entry_id, fields in entries:
                return self._claim(entry_id, fields, 1, at, lease)
        return None

    def _claim(self, entry_id: Any, fields: Mapping[bytes, bytes], attempt: int | None,
               at: float, lease: float) -> Claim:
        entry = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        return Claim(json.loads(fields[b"item"]), f"{entry}.{attempt}", attempt, at, at + lease,
                     entry)

    def ack(self, claim: Claim) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.key, self.GROUP, claim.handle)
        pipe.xdel(self.key, claim.handle)
        acked, _ = pipe.execute()
        if not acked:
            raise ClaimEnded(f"{claim.id} is no longer pending")

    def nack(self, claim: Claim, delay: float = 0.0) -> None:
        pending = self.client.xpending_range(self.key, self.GROUP, claim.handle, claim.handle, 1)
        if not pending or pending[0]["consumer"].decode() != self.consumer or (
                pending[0]["times_delivered"] != claim.attempt):
            raise ClaimEnded(f"{claim.id} is no longer held by {self.consumer}")
        idle_ms = int((claim.until - claim.claimed_at + TAKE_BACK_MARGIN) * 1000
                      - delay * 1000)
        self.client.xclaim(self.key, self.GROUP, self.consumer, 0, [claim.handle],
                           idle=max(0, idle_ms), justid=True)

    def close(self) -> None:
        self.client.close()


def redis_stream(directory: Path, *, fsync: bool, options: Mapping[str, Any]) -> QueueBackend:
    return RedisStream(*_redis(directory), _clock(options))


# The registry's view ----------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """A peer's backend: its factory, the module it imports, the package that brings it, and
    what its documentation says about processes (quoted by the survey)."""

    factory: BackendFactory
    module: str
    package: str
    about: str
    says: str = ""
    needs_redis: bool = False
    #: The library's own issue about using it from several processes, where one exists.
    issue: str = ""

    def missing(self) -> str | None:
        """Why this backend cannot be opened here, in one line, or None."""
        if self.module in sys.modules:  # imported (kombu's module then has no __spec__)
            return None
        if importlib.util.find_spec(self.module) is None:
            return f"not installed: pip install {self.package}"
        return None


_QUEUELIB = ("Queuelib does not lock the files that it uses. On top of not being thread-safe, "
             "a given path must not be used by more than one open queue object at a time, in "
             "the same process or not (its README)")
_PERSIST_ISSUE = "https://github.com/peter-wangxu/persist-queue/issues/132"
_PERSIST_132 = ("multiprocessing is not supported and verified for both file and sqlite "
                "queues (the maintainer, persist-queue issue #132)")

#: name: the peer
PEERS: dict[str, Peer] = {
    "persist-queue-file": Peer(persist_queue_file, "persistqueue", "persist-queue",
                               "persist-queue Queue (files)", _PERSIST_132,
                               issue=_PERSIST_ISSUE),
    "persist-queue-sqlite": Peer(persist_queue_sqlite, "persistqueue", "persist-queue",
                                 "persist-queue SQLiteQueue", _PERSIST_132,
                                 issue=_PERSIST_ISSUE),
    "persist-queue-sqlite-ack": Peer(persist_queue_sqlite_ack, "persistqueue", "persist-queue",
                                     "persist-queue SQLiteAckQueue (ack = claim)",
                                     _PERSIST_132, issue=_PERSIST_ISSUE),
    "litequeue": Peer(litequeue, "litequeue", "litequeue",
                      "litequeue LiteQueue (pop + done)"),
    "diskcache-deque": Peer(diskcache_deque, "diskcache", "diskcache", "diskcache.Deque"),
    "huey-file": Peer(huey_file, "huey", "huey", "huey FileStorage (enqueue/dequeue)",
                      issue="https://github.com/coleifer/huey/issues/620"),
    "huey-sqlite": Peer(huey_sqlite, "huey", "huey", "huey SqliteStorage (enqueue/dequeue)"),
    "queuelib-fifo-disk": Peer(queuelib_fifo_disk, "queuelib", "queuelib",
                               "queuelib FifoDiskQueue", _QUEUELIB,
                               issue="https://github.com/scrapy/queuelib/issues/5"),
    "queuelib-fifo-sqlite": Peer(queuelib_fifo_sqlite, "queuelib", "queuelib",
                                 "queuelib FifoSQLiteQueue", _QUEUELIB),
    "dirq-simple": Peer(dirq_simple, "dirq", "dirq", "dirq QueueSimple (a directory queue)"),
    "kombu-filesystem": Peer(kombu_filesystem, "kombu", "kombu",
                             "kombu SimpleQueue on filesystem://",
                             issue="https://github.com/celery/kombu/issues/1551"),
    "redis-list": Peer(redis_list, "redis", "redis", "a Redis list (RPUSH/LPOP)",
                       needs_redis=True),
    "redis-stream": Peer(redis_stream, "redis", "redis",
                         "a Redis stream, one consumer group (XREADGROUP/XACK/XAUTOCLAIM)",
                         needs_redis=True),
}
