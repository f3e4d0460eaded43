"""Many processes through one queue, each recording its own operations; checked afterwards.

Unlike the harness, the workers report nothing while they run (no pipe per operation): each
keeps its operations in memory and writes them to a file at the end, so the figure is the
queue's, not the recorder's.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

from harness.checkers import check

from .backends import Backend

_fork = multiprocessing.get_context("fork")


def _reporting_errors(work: Any) -> Any:
    """Run a worker; if it raises, leave the error in ``error-<worker>.txt`` and exit 1."""
    def run(backend: Backend, place: Path, out: Path, worker: int, *args: Any) -> None:
        try:
            work(backend, place, out, worker, *args)
        except Exception as error:
            kind = type(error)
            (out / f"error-{worker}.txt").write_text(
                f"{kind.__module__}.{kind.__qualname__}: {error}"[:300])
            os._exit(1)
    return run


@_reporting_errors
def _producer(backend: Backend, place: Path, out: Path, worker: int, count: int) -> None:
    queue = backend.open(place)
    ops = []
    clock = time.monotonic_ns
    for n in range(count):
        value = f"w{worker}:{n}"
        began = clock()
        queue.put({"value": value, "data": "task_data", "priority": 3})
        ops.append(("put", value, began, clock()))
    _dump(out, worker, ops)
    queue.close()
    os._exit(0)


@_reporting_errors
def _consumer(backend: Backend, place: Path, out: Path, worker: int, done: Path) -> None:
    queue = backend.open(place)
    ops = []
    clock = time.monotonic_ns
    while True:
        producers_done = done.exists()
        began = clock()
        item = queue.get()
        ops.append(("get", None if item is None else item["value"], began, clock()))
        if item is None:
            if producers_done:
                break
            time.sleep(0.0005)
    _dump(out, worker, ops)
    queue.close()
    os._exit(0)


def _dump(out: Path, worker: int, ops: list[tuple[str, Any, int, int]]) -> None:
    (out / f"worker-{worker}.json").write_text(json.dumps(ops))


def move_items(backend: Backend, place: Path, producers: int, consumers: int,
               items: int) -> tuple[float, dict[str, Any]]:
    """Seconds for P producers and C consumers to move ``items`` items; and the checker's counts."""
    out = place.with_name(place.name + "-ops")
    out.mkdir(parents=True)
    done = out / "producers-done"
    backend.open(place).close()  # created once, before the workers race for it
    share, extra = divmod(items, producers)
    started = time.monotonic()
    makers = [_fork.Process(target=_producer,
                            args=(backend, place, out, w, share + (w < extra)))
              for w in range(producers)]
    takers = [_fork.Process(target=_consumer, args=(backend, place, out, producers + w, done))
              for w in range(consumers)]
    for process in makers + takers:
        process.start()
    for process in makers:
        process.join()
    done.touch()
    for process in takers:
        process.join()
    seconds = time.monotonic() - started
    failed = [p.exitcode for p in makers + takers if p.exitcode != 0]
    if failed:
        errors = sorted(out.glob("error-*.txt"))
        first = errors[0].read_text() if errors else f"exit codes {failed}"
        raise RuntimeError(f"{len(failed)} of {producers + consumers} workers failed; "
                           f"first: {first}")
    history = []
    for worker in range(producers + consumers):
        for op, value, began, ended in json.loads((out / f"worker-{worker}.json").read_text()):
            history.append({"process": worker, "op": op, "value": value, "type": "ok",
                            "call": began, "return": ended})
    history.sort(key=lambda op: op["call"])
    report = check(history)
    return seconds, {**report.counts, "fifo_valid": report.checkers["fifo"].valid}
