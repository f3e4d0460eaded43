"""One process: put+get pairs at a given backlog, puts alone, and put-then-drain."""

from __future__ import annotations

import pytest

from .conftest import record, skip_unless_backlog_fits

PAIRS = 2000
ITEM = {"id": 1, "type": "send_email", "timestamp": "2026-11-26T06:00:00",
        "data": "task_data_1", "priority": 3}


@pytest.mark.parametrize("backlog", [0, 1_000, 100_000])
def test_put_get_pairs_at_backlog(benchmark, backend, backlog, tmp_path):
    skip_unless_backlog_fits(backend, backlog)
    queue = backend.open(tmp_path / "q")
    for _ in range(backlog):
        queue.put(ITEM)
    pairs = PAIRS if backend.max_backlog is None else PAIRS // 4
    empty = []

    def move():
        for _ in range(pairs):
            queue.put(ITEM)
            if queue.get() is None:
                empty.append(1)  # asserted below: an exception here would lose the timings

    benchmark.group = f"pairs at backlog {backlog:,}"
    benchmark.pedantic(move, rounds=5, iterations=1, warmup_rounds=1)
    record(benchmark, pairs, backend=backend.name, family=backend.family, backlog=backlog,
           empty_gets=len(empty))
    queue.close()
    assert not empty, f"{backend.name} returned empty with {backlog} items waiting"


def test_puts_alone(benchmark, backend, tmp_path):
    queue = backend.open(tmp_path / "q")
    puts = PAIRS if backend.max_backlog is None else 200

    def fill():
        for _ in range(puts):
            queue.put(ITEM)

    benchmark.group = "puts alone"
    benchmark.pedantic(fill, rounds=3, iterations=1)
    record(benchmark, puts, backend=backend.name, family=backend.family)
    queue.close()


def test_put_then_drain_100000(benchmark, backend, tmp_path):
    skip_unless_backlog_fits(backend, 100_000)
    count = 100_000
    rounds = iter(range(10**6))
    taken = []

    def setup():
        return (backend.open(tmp_path / f"q{next(rounds)}"),), {}

    def fill_and_drain(queue):
        for _ in range(count):
            queue.put(ITEM)
        taken.append(sum(1 for _ in iter(queue.get, None)))
        queue.close()

    benchmark.group = "put 100,000 then drain"
    benchmark.pedantic(fill_and_drain, setup=setup, rounds=1, iterations=1)
    record(benchmark, count, backend=backend.name, family=backend.family, taken=taken[-1])
    assert taken == [count], f"{backend.name} returned {taken} of {count} items"
