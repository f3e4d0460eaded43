"""Issue 14's figures: durable puts by 1, 2, 4 and 8 producer processes (group commit),
put-to-get latency across processes with consumers blocked in ``get``, batch throughput, and
the CPU that idle blocked consumers use.

Every size can be lowered through an environment variable, to see that a benchmark runs
(``ISSUE14_SCALE=0.01``); the figures in the committed report come from the full sizes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue as stdlib_queue
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from queue_core import FileQueue, diskio

from .conftest import record

#: Multiplies every count below (and the idle time): 1 for the report, less to try a run.
SCALE = float(os.environ.get("ISSUE14_SCALE", "1"))
DURABLE_PUTS = max(8, int(4000 * SCALE))
LATENCY_ITEMS = max(20, int(2000 * SCALE))
#: Seconds between two puts of the steady producer.
LATENCY_INTERVAL = 0.002
CONSUMERS = 4
BATCH_ITEMS = max(1000, int(100_000 * SCALE))
IDLE_CONSUMERS = 8
IDLE_SECONDS = max(0.5, 10.0 * SCALE)
ITEM = {"id": 1, "type": "send_email", "data": "task_data_1", "priority": 3}
STOP = "stop"

_fork = multiprocessing.get_context("fork")


# -- durable puts with 1, 2, 4, 8 producers -----------------------------------------------


def _durable_producer(path: Path, count: int, ready: Any, start: Any, fsyncs: Any) -> None:
    real_fsync = diskio.fsync

    def counted_fsync(*args: Any) -> None:
        real_fsync(*args)
        with fsyncs.get_lock():
            fsyncs.value += 1

    diskio.fsync = counted_fsync  # this child's own module: no other benchmark sees it
    queue = FileQueue(path, fsync=True)
    ready.release()
    start.wait()
    for _ in range(count):
        queue.put(ITEM)
    queue.close()


@pytest.mark.parametrize("producers", [1, 2, 4, 8])
def test_durable_puts_by_producers(benchmark, producers, tmp_path):
    """Durable puts (fsync=True) spread over ``producers`` processes; compared in the report
    with the raw append+fsync rate of one process in the same run (test_raw_limits). Only
    the puts are timed: the producers are forked and have opened the queue before."""
    rounds = iter(range(10**6))
    fsyncs_per_round = []

    def prepare() -> tuple[tuple[Any, ...], dict[str, Any]]:
        path = tmp_path / f"q{next(rounds)}" / "tasks.json"
        FileQueue(path, fsync=True).close()
        ready, start, fsyncs = _fork.Semaphore(0), _fork.Event(), _fork.Value("q", 0)
        share, extra = divmod(DURABLE_PUTS, producers)
        workers = [_fork.Process(target=_durable_producer,
                                 args=(path, share + (n < extra), ready, start, fsyncs))
                   for n in range(producers)]
        for worker in workers:
            worker.start()
        for _ in workers:
            assert ready.acquire(timeout=60), "a producer did not open the queue"
        return (path, workers, start, fsyncs), {}

    def run(path: Path, workers: list[Any], start: Any, fsyncs: Any) -> None:
        start.set()
        for worker in workers:
            worker.join()
        assert all(w.exitcode == 0 for w in workers)
        with FileQueue(path) as queue:
            assert queue.size() == DURABLE_PUTS
        fsyncs_per_round.append(fsyncs.value)

    benchmark.group = "durable puts by producers"
    benchmark.pedantic(run, setup=prepare, rounds=3, iterations=1)
    record(benchmark, DURABLE_PUTS, backend=f"filequeue-journal-fsync, {producers} producers",
           family="group-commit", producers=producers,
           puts_per_fsync=DURABLE_PUTS / statistics.median(fsyncs_per_round))


# -- put-to-get latency across processes ----------------------------------------------------


class _Blocking:
    """A queue that consumers can block on: ``put(item)``, ``wait_get()`` (blocks until an
    item comes), ``close()``; opened anew in each process by ``open(place)``."""

    def __init__(self, put: Callable[[Any], None], wait_get: Callable[[], Any],
                 close: Callable[[], None] = lambda: None) -> None:
        self.put, self.wait_get, self.close = put, wait_get, close


def _filequeue(place: Any) -> _Blocking:
    queue = FileQueue(place / "tasks.json")
    return _Blocking(queue.put, lambda: queue.get(timeout=None), queue.close)


def _mp_queue(place: Any) -> _Blocking:
    return _Blocking(place.put, place.get)


def _redis(place: Any) -> _Blocking:
    import redis

    client = redis.Redis.from_url(place)

    def wait_get() -> Any:
        _, raw = client.blpop(["latency"], timeout=0)
        return json.loads(raw)

    return _Blocking(lambda item: client.rpush("latency", json.dumps(item)), wait_get,
                     client.close)


def _persist_queue_ack(place: Any) -> _Blocking:
    import persistqueue

    queue = persistqueue.SQLiteAckQueue(str(place), auto_commit=True, multithreading=True)

    def wait_get() -> Any:
        item = queue.get(block=True)
        queue.ack(item)
        return item

    return _Blocking(queue.put, wait_get)


def _latency_consumer(opener: Callable[[Any], _Blocking], place: Any, out: Path,
                      worker: int, ready: Any) -> None:
    queue = opener(place)
    ready.release()
    delays = []
    while True:
        item = queue.wait_get()
        if item == STOP:
            break
        delays.append((item["n"], time.monotonic_ns() - item["put_ns"]))
    queue.close()
    (out / f"delays-{worker}.json").write_text(json.dumps(delays))


def _measure_latency(opener: Callable[[Any], _Blocking], place: Any,
                     out: Path) -> list[tuple[int, int]]:
    """Put ``LATENCY_ITEMS`` items at a steady rate with ``CONSUMERS`` blocked consumers; each
    delivery as (item number, nanoseconds from its put to its get: CLOCK_MONOTONIC is one
    clock for every process of the machine)."""
    out.mkdir(parents=True)
    ready = _fork.Semaphore(0)
    consumers = [_fork.Process(target=_latency_consumer, args=(opener, place, out, n, ready))
                 for n in range(CONSUMERS)]
    for consumer in consumers:
        consumer.start()
    for _ in consumers:
        ready.acquire(timeout=60)
    producer = opener(place)
    next_at = time.monotonic()
    for n in range(LATENCY_ITEMS):
        next_at += LATENCY_INTERVAL
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # the steady rate of the producer, not a wait for a result
        producer.put({"n": n, "put_ns": time.monotonic_ns()})
    for _ in consumers:
        producer.put(STOP)
    for consumer in consumers:
        consumer.join(timeout=120)
    producer.close()
    delays = []
    for n in range(CONSUMERS):
        delays += [tuple(d) for d in json.loads((out / f"delays-{n}.json").read_text())]
    return delays


def _latency_place(name: str, tmp_path: Path, redis_url: str | None) -> Any:
    if name == "filequeue-journal":
        FileQueue(tmp_path / "q" / "tasks.json").close()
        return tmp_path / "q"
    if name == "multiprocessing-queue":
        return _fork.Queue()
    if name == "redis-list":
        if redis_url is None:
            from harness.backends.redis_server import missing_reason

            pytest.skip(missing_reason() or "no redis-server")
        import redis

        redis.Redis.from_url(redis_url).delete("latency")
        return redis_url
    try:
        import persistqueue  # noqa: F401
    except ImportError:
        pytest.skip("persist-queue is not installed (pip install -e '.[peers]')")
    return tmp_path / "pq"


LATENCY_BACKENDS = {"filequeue-journal": _filequeue, "multiprocessing-queue": _mp_queue,
                    "redis-list": _redis, "persist-queue-sqlite-ack": _persist_queue_ack}


@pytest.mark.parametrize("name", sorted(LATENCY_BACKENDS))
def test_put_to_get_latency(benchmark, name, tmp_path, redis_url):
    """1 producer putting every LATENCY_INTERVAL s, 4 consumers blocked in get: p50 and p99
    of the delay from put to get (persist-queue's blocking get polls; the other peers here
    have no blocking get)."""
    place = _latency_place(name, tmp_path, redis_url)
    deliveries: list[tuple[int, int]] = []
    benchmark.group = "put-to-get latency"
    benchmark.pedantic(lambda: deliveries.extend(_measure_latency(
        LATENCY_BACKENDS[name], place, tmp_path / "out")), rounds=1, iterations=1)
    first: dict[int, int] = {}
    for n, delay in deliveries:
        first[n] = min(delay, first.get(n, delay))
    delays = sorted(first.values())
    cuts = statistics.quantiles(delays, n=100, method="inclusive")
    record(benchmark, LATENCY_ITEMS, backend=name, family="latency",
           p50_ms=cuts[49] / 1e6, p99_ms=cuts[98] / 1e6, max_ms=delays[-1] / 1e6,
           lost=LATENCY_ITEMS - len(first), duplicated=len(deliveries) - len(first))
    if name == "filequeue-journal":  # a peer's loss or duplicates are a finding for the report
        assert len(deliveries) == len(first) == LATENCY_ITEMS


# -- batches -----------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 10, 100, 1000])
def test_batch_put_many_get_many(benchmark, batch, tmp_path):
    """``BATCH_ITEMS`` items through put_many + get_many in batches of ``batch``, one process."""
    queue = FileQueue(tmp_path / "q" / "tasks.json")
    items = [ITEM] * batch
    rounds = BATCH_ITEMS // batch
    short = []

    def move() -> None:
        for _ in range(rounds):
            queue.put_many(items)
            if len(queue.get_many(batch)) != batch:
                short.append(1)

    benchmark.group = "batches: put_many + get_many"
    benchmark.pedantic(move, rounds=3, iterations=1, warmup_rounds=1)
    record(benchmark, rounds * batch, backend=f"filequeue-journal, batch {batch}",
           family="batch", batch=batch)
    queue.close()
    assert not short


# -- idle consumers ----------------------------------------------------------------------


def _idle_consumer(path: Path, ready: Any, answers: Any) -> None:
    queue = FileQueue(path)
    before = resource.getrusage(resource.RUSAGE_SELF)
    ready.release()
    queue.get(timeout=None)  # blocks until the stop item
    after = resource.getrusage(resource.RUSAGE_SELF)
    answers.put((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    queue.close()


def test_idle_blocked_consumers_cpu(benchmark, tmp_path):
    """8 consumers blocked in get(timeout=None) on an empty queue for IDLE_SECONDS: the CPU
    seconds they use (their own rusage, from before they block until the stop item wakes
    them), as a share of one core."""
    path = tmp_path / "q" / "tasks.json"
    FileQueue(path).close()
    used: list[float] = []

    def run() -> None:
        ready, answers = _fork.Semaphore(0), _fork.Queue()
        consumers = [_fork.Process(target=_idle_consumer, args=(path, ready, answers))
                     for _ in range(IDLE_CONSUMERS)]
        for consumer in consumers:
            consumer.start()
        for _ in consumers:
            ready.acquire(timeout=60)
        time.sleep(IDLE_SECONDS)  # the idle period under measurement
        with FileQueue(path) as queue:
            queue.put_many([STOP] * IDLE_CONSUMERS)
        try:
            used.append(sum(answers.get(timeout=60) for _ in consumers))
        except stdlib_queue.Empty:
            used.append(float("nan"))
        for consumer in consumers:
            consumer.join(timeout=60)

    benchmark.group = "idle blocked consumers"
    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(backend=f"{IDLE_CONSUMERS} idle consumers", family="idle",
                                cpu_seconds=used[0], idle_seconds=IDLE_SECONDS,
                                core_share=used[0] / IDLE_SECONDS)
