"""One adapter per queue under benchmark, all with the same three calls: put, get, close.

Every adapter carries the same task-shaped dict; each stores it its own way (JSON, pickle).
``get`` returns ``None`` when the queue is empty, whatever the library does then.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import multiprocessing
import os
import queue as stdlib_queue
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from harness.backends import open_backend


class Adapter:
    """A queue opened at one place, seen through put/get/close."""

    def put(self, item: Any) -> None:
        raise NotImplementedError

    def get(self) -> Any | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the queue holds open (connections, descriptors)."""


@dataclass(frozen=True)
class Backend:
    """A queue to benchmark: how to open it, and what it cannot do."""

    name: str
    family: str  # "ours", "original", "peer" or "ceiling"
    open: Callable[[Path], Adapter]
    #: None, or why the backend cannot be shared by processes (the multi-process runs skip it).
    single_process_only: str | None = None
    #: Backlogs above this are skipped, for ``backlog_reason``.
    max_backlog: int | None = None
    backlog_reason: str = "it rewrites the whole queue on every operation"
    #: A module the backend needs; it is skipped with a reason when missing.
    requires: str | None = None

    def missing(self) -> str | None:
        """Why this backend cannot run here, or None."""
        if self.requires and importlib.util.find_spec(self.requires) is None:
            return f"{self.requires} is not installed: pip install -e '.[bench]'"
        return None


class _Registered(Adapter):
    """A queue of the harness's registry (``harness.backends``), at ``path/tasks.json``."""

    def __init__(self, path: Path, name: str, fsync: bool = False) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.queue = open_backend(name, path, fsync)
        self.put = self.queue.put
        self.get = self.queue.get

    def close(self) -> None:
        close = getattr(self.queue, "close", None)
        if close is not None:
            close()


class _Claiming(_Registered):
    """A queue taken at least once, claim then ack: the counterpart of the peers' ack queues."""

    def __init__(self, path: Path, name: str, fsync: bool = False) -> None:
        super().__init__(path, name, fsync)
        self.get = self._claim_and_ack

    def _claim_and_ack(self) -> Any | None:
        claim = self.queue.claim(lease=60.0)
        if claim is None:
            return None
        self.queue.ack(claim)
        return claim.item


class _PersistQueue(Adapter):
    """persist-queue's queues: a non-blocking get, then the call that confirms it."""

    def __init__(self, queue: Any, confirm: Callable[[Any], Any]) -> None:
        self.queue = queue
        self.confirm = confirm

    def put(self, item: Any) -> None:
        self.queue.put(item)

    def get(self) -> Any | None:
        import persistqueue

        try:
            item = self.queue.get(block=False)
        except persistqueue.Empty:
            return None
        self.confirm(item)
        return item


def _persist_file_queue(path: Path) -> Adapter:
    import persistqueue

    queue = persistqueue.Queue(str(path), autosave=True)
    return _PersistQueue(queue, lambda _item: queue.task_done())


def _persist_ack_queue(path: Path) -> Adapter:
    import persistqueue

    path.mkdir(parents=True, exist_ok=True)
    # auto_resume=False: by default every process that opens it resets all unacked items.
    queue = persistqueue.SQLiteAckQueue(str(path), auto_resume=False, multithreading=True)
    return _PersistQueue(queue, queue.ack)


class _LiteQueue(Adapter):
    def __init__(self, path: Path) -> None:
        from litequeue import LiteQueue

        path.mkdir(parents=True, exist_ok=True)
        self.queue = LiteQueue(str(path / "queue.sqlite3"))

    def put(self, item: Any) -> None:
        self.queue.put(json.dumps(item))

    def get(self) -> Any | None:
        message = self.queue.pop()
        if message is None:
            return None
        self.queue.done(message.message_id)
        return json.loads(message.data)

    def close(self) -> None:
        self.queue.close()


class _DiskcacheDeque(Adapter):
    def __init__(self, path: Path) -> None:
        import diskcache

        self.deque = diskcache.Deque(directory=str(path))

    def put(self, item: Any) -> None:
        self.deque.append(item)

    def get(self) -> Any | None:
        try:
            return self.deque.popleft()
        except IndexError:
            return None

    def close(self) -> None:
        self.deque.directory  # noqa: B018 -- keeps the object's cache alive until here
        with contextlib.suppress(Exception):
            self.deque._cache.close()


class _MultiprocessingQueue(Adapter):
    """The in-memory ceiling: one ``multiprocessing.Queue`` per place, shared through fork."""

    _by_path: ClassVar[dict[Path, Any]] = {}

    def __init__(self, path: Path) -> None:
        if path not in self._by_path:
            self._by_path[path] = (multiprocessing.get_context("fork").Queue(), os.getpid())
        self.queue, self.creator = self._by_path[path]
        self.has_put = False

    def put(self, item: Any) -> None:
        self.queue.put(item)
        self.has_put = True

    def get(self) -> Any | None:
        # put() hands the item to a feeder thread: give it 0.1 s to reach the pipe.
        try:
            return self.queue.get(timeout=0.1)
        except stdlib_queue.Empty:
            return None

    def close(self) -> None:
        if self.has_put and os.getpid() != self.creator:
            # A forked producer's items wait in its feeder thread's buffer: exiting without
            # flushing it to the consumers' pipe loses them. (In the creating process nobody
            # may be left to read, and the flush would wait forever.)
            self.queue.close()
            self.queue.join_thread()
        else:
            # Never wait at exit for a feeder thread that nobody will read from.
            self.queue.cancel_join_thread()


class _RedisList(Adapter):
    """A Redis list (RPUSH / LPOP) on the suite's own loopback server; see ``REDIS_PORT``."""

    port: int | None = None

    def __init__(self, path: Path) -> None:
        import redis

        if self.port is None:
            raise RuntimeError("no redis-server was started for this run")
        self.client = redis.Redis(host="127.0.0.1", port=self.port)
        self.key = f"queue:{path}"

    def put(self, item: Any) -> None:
        self.client.rpush(self.key, json.dumps(item))

    def get(self) -> Any | None:
        raw = self.client.lpop(self.key)
        return None if raw is None else json.loads(raw)

    def close(self) -> None:
        self.client.close()


O_N = 1_000
BACKENDS = [
    Backend("filequeue-journal", "ours", lambda p: _Registered(p, "filequeue-journal")),
    Backend("filequeue-journal-fsync", "ours",
            lambda p: _Registered(p, "filequeue-journal", fsync=True)),
    Backend("filequeue-journal-claims", "ours",
            lambda p: _Claiming(p, "filequeue-journal")),
    Backend("filequeue-json-array", "ours", lambda p: _Registered(p, "filequeue-json-array"),
            max_backlog=O_N),
    Backend("filequeue-json-array-fsync", "ours",
            lambda p: _Registered(p, "filequeue-json-array", fsync=True), max_backlog=O_N),
    Backend("original", "original", lambda p: _Registered(p, "mutant-original"),
            max_backlog=O_N),
    Backend("persist-queue-file", "peer", _persist_file_queue, requires="persistqueue",
            single_process_only="persist-queue's file Queue is documented as thread-safe, "
            "not process-safe"),
    Backend("persist-queue-sqlite-ack", "peer", _persist_ack_queue, requires="persistqueue",
            max_backlog=O_N, backlog_reason="acked rows stay in its table until "
            "clear_acked_data(), and each get scans past them: 100,000 items took over 10 "
            "minutes without finishing"),
    Backend("litequeue", "peer", _LiteQueue, requires="litequeue", max_backlog=O_N,
            backlog_reason="done messages stay in its table until prune(); putting then "
            "draining 100,000 items ran over 7 minutes without finishing"),
    Backend("diskcache-deque", "peer", _DiskcacheDeque, requires="diskcache"),
    Backend("multiprocessing-queue", "ceiling", _MultiprocessingQueue),
    Backend("redis-list", "peer", _RedisList, requires="redis"),
]
BY_NAME = {backend.name: backend for backend in BACKENDS}


def redis_server_binary() -> str | None:
    """The path of ``redis-server``, or None."""
    return shutil.which("redis-server")
