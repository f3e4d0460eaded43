"""The checker's own speed: ``harness check`` of a million-operation history (read, check,
report), the size of a long stress run."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.checkers import check
from harness.history.files import read_history, write_history
from harness.reporting import report as reporting

from .conftest import record

OPERATIONS = 1_000_000


def concurrent_history(operations: int, workers: int = 8, seed: int = 1) -> list[dict]:
    """A valid history of ``workers`` producers and as many consumers on one FIFO queue, each
    operation a short interval, taking effect inside it (with some empty gets)."""
    rng = random.Random(seed)
    history, queue, clock, serial = [], [], 10**9, 0
    while len(history) < operations:
        clock += rng.randint(200, 800)
        process = rng.randrange(2 * workers)
        if process < workers:
            serial += 1
            value = f"w{process}:{serial}"
            queue.append(value)
            history.append({"process": process, "op": "put", "value": value, "type": "ok",
                            "call": clock, "return": clock + 150})
        else:
            value = queue.pop(0) if queue else None
            history.append({"process": process, "op": "get", "value": value, "type": "ok",
                            "call": clock, "return": clock + 150})
    return history


@pytest.fixture(scope="module")
def million(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("checker") / "history.jsonl"
    write_history(path, concurrent_history(OPERATIONS))
    return path


def test_checking_a_million_operation_history(benchmark, million):
    def read_check_report():
        history = read_history(million)
        result = check(history)
        reporting.build(result, history)
        assert result.valid

    benchmark.group = "checker"
    benchmark.pedantic(read_check_report, rounds=3, iterations=1)
    record(benchmark, OPERATIONS, backend="harness check", family="checker")
