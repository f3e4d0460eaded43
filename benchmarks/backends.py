"""The queues under benchmark, all seen through the same three calls: put, get, close.

This project's queues and the peers are opened through the harness's registry
(``harness.backends``: the peers' adapters live in ``harness.backends.peers``, shared with
``harness stress`` and ``harness survey``); what is left here is benchmark-specific: the
in-memory ``multiprocessing.Queue`` ceiling and the rules that skip a backend. Every queue
carries the same task-shaped dict; each stores it its own way (JSON, pickle). ``get`` returns
``None`` when the queue is empty, whatever the library does then.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as stdlib_queue
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from harness.backends.registry import BUILT_IN, open_backend


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
    #: The registry's backend it opens, if any: skipped with the registry's reason when its
    #: library is missing.
    registered: str | None = None

    def missing(self) -> str | None:
        """Why this backend cannot run here, or None."""
        if self.registered is None:
            return None
        return BUILT_IN[self.registered].missing()


class _Registered(Adapter):
    """A queue of the harness's registry (``harness.backends``), with its files in ``path``."""

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


O_N = 1_000
def _ours(name: str, registered: str, **kwargs: Any) -> Backend:
    fsync = name.endswith("-fsync")
    return Backend(name, "ours", lambda p: _Registered(p, registered, fsync=fsync), **kwargs)


def _peer(name: str, **kwargs: Any) -> Backend:
    """A peer, opened through its adapter in ``harness.backends.peers``."""
    return Backend(name, "peer", lambda p: _Registered(p, name), registered=name, **kwargs)


BACKENDS = [
    _ours("filequeue-journal", "filequeue-journal"),
    _ours("filequeue-journal-fsync", "filequeue-journal"),
    Backend("filequeue-journal-claims", "ours",
            lambda p: _Claiming(p, "filequeue-journal")),
    _ours("filequeue-json-array", "filequeue-json-array", max_backlog=O_N),
    _ours("filequeue-json-array-fsync", "filequeue-json-array", max_backlog=O_N),
    Backend("original", "original", lambda p: _Registered(p, "mutant-original"),
            max_backlog=O_N),
    _peer("persist-queue-file", single_process_only="persist-queue's file Queue is documented "
          "as thread-safe, not process-safe"),
    _peer("persist-queue-sqlite-ack", max_backlog=O_N, backlog_reason="acked rows stay in its "
          "table until clear_acked_data(), and each get scans past them: 100,000 items took "
          "over 10 minutes without finishing"),
    _peer("litequeue", max_backlog=O_N, backlog_reason="done messages stay in its table until "
          "prune(); putting then draining 100,000 items ran over 7 minutes without finishing"),
    _peer("diskcache-deque"),
    Backend("multiprocessing-queue", "ceiling", _MultiprocessingQueue),
    _peer("redis-list"),
]
BY_NAME = {backend.name: backend for backend in BACKENDS}
