"""Shared set-up of the benchmarks: the Redis server, a place per queue, and skip rules."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from .backends import BACKENDS, Backend, _RedisList, redis_server_binary


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.benchmark)
        # The slowest peers need minutes for 100,000 items; the unit tests' 300 s is too short.
        item.add_marker(pytest.mark.timeout(1800))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    """Drop the benchmarks that failed before any timing: pytest-benchmark cannot save them,
    and would lose the whole JSON file."""
    benchmarks = getattr(getattr(session.config, "_benchmarksession", None), "benchmarks", None)
    if benchmarks is not None:
        benchmarks[:] = [b for b in benchmarks if getattr(b, "stats", None) and b.stats.data]


@pytest.fixture(scope="session")
def redis_port():
    """A redis-server of our own on a free loopback port, for the whole run."""
    binary = redis_server_binary()
    if binary is None:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("redis-server did not answer within 20 s") from None
                time.sleep(0.05)
        client.close()
        _RedisList.port = port
        yield port
    finally:
        _RedisList.port = None
        server.terminate()
        server.wait(10)


@pytest.fixture(params=BACKENDS, ids=lambda b: b.name)
def backend(request, redis_port) -> Backend:
    """Every backend, skipped with a reason where it cannot run."""
    chosen: Backend = request.param
    reason = chosen.missing()
    if reason is None and chosen.name == "redis-list" and redis_port is None:
        reason = "redis-server is not installed: apt-get install redis-server"
    if reason:
        pytest.skip(reason)
    return chosen


def skip_unless_backlog_fits(backend: Backend, backlog: int) -> None:
    """Skip a backlog the backend would need hours for (each operation rewrites the queue)."""
    if backend.max_backlog is not None and backlog > backend.max_backlog:
        pytest.skip(f"{backend.name} at {backlog:,} items: {backend.backlog_reason}")


def record(benchmark, items: int, **extra) -> None:
    """Put items per second (what a user compares) in the benchmark's extra_info.

    From the median round, so that one round slowed by the machine's other work does not
    move the figure; the same for every backend.
    """
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(items=items, items_per_second=items / median, **extra)
