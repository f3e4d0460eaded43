"""Shared set-up of the benchmarks: the Redis server, a place per queue, and skip rules."""

from __future__ import annotations

import pytest

from harness.backends.redis_server import missing_reason, redis_for

from .backends import BACKENDS, Backend


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
def redis_url():
    """A redis-server of our own on a free loopback port for the whole run (its URL in
    ``HARNESS_REDIS_URL``, where the redis-list adapter finds it), or None without one."""
    if missing_reason() is not None:
        yield None
        return
    with redis_for("auto") as url:
        yield url


@pytest.fixture(params=BACKENDS, ids=lambda b: b.name)
def backend(request, redis_url) -> Backend:
    """Every backend, skipped with a reason where it cannot run."""
    chosen: Backend = request.param
    reason = chosen.missing()
    if reason is None and chosen.name == "redis-list" and redis_url is None:
        reason = missing_reason()
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
