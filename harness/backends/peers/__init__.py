"""Adapters for the peers: the local, persistent queues people reach for, each a few lines over
the library's own API (never a re-implementation), opened through the backend protocol.

A peer's library is imported inside its factory, so a missing one costs nothing until it is
used; ``Peer.missing()`` says in one line what to install. Items are JSON-encoded where the
library stores bytes or text, and given as they are where it pickles.

At least once, where the library has it (``claim`` returns a ``PeerClaim``):

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

import importlib.util
import sys
from dataclasses import dataclass

from ..protocol import BackendFactory
from .dirq import dirq_simple
from .diskcache import diskcache_deque
from .huey import huey_file, huey_sqlite
from .kombu import kombu_filesystem
from .litequeue import litequeue
from .persist_queue import persist_queue_file, persist_queue_sqlite, persist_queue_sqlite_ack
from .queuelib import queuelib_fifo_disk, queuelib_fifo_sqlite
from .redis import redis_list, redis_stream


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
