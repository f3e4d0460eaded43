"""A stress run, composed: a new queue, the supervised workers, the collector, the final drain,
and the history they make together."""

from __future__ import annotations

import functools
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from queue_core.contracts import AT_LEAST_ONCE, AT_MOST_ONCE, DELIVERY_MODES

from .backends import CLAIMING, open_backend
from .collector import Collector
from .drain import drain_claims, drain_gets
from .supervisor import Crew, Limits, Progress, Supervisor, gathered_worker_logs, split_quota
from .worker import WorkerPlan


@dataclass(frozen=True)
class StressConfig:
    """What to run: how many processes of each role, how many items, which queue, which faults.

    The command line's defaults are these.
    """

    producers: int = 4
    consumers: int = 4
    items: int = 10_000
    readers: int = 1
    duration: float | None = None
    backend: str = "filequeue"
    fsync: bool = False
    kill_every_ms: float | None = None
    seed: int = 0
    #: Seconds after which an unfinished run is abandoned.
    timeout: float = 600.0
    #: Create the queue before the workers start; otherwise they all create it at once.
    precreate: bool = False
    delivery: str = AT_MOST_ONCE
    #: at-least-once: the claims' lease in seconds, and the share of claims given back.
    lease: float = 0.5
    nack_fraction: float = 0.02

    def __post_init__(self) -> None:
        if self.delivery not in DELIVERY_MODES:
            raise ValueError(f"delivery must be {' or '.join(DELIVERY_MODES)}, "
                             f"not {self.delivery!r}")
        if self.delivery == AT_LEAST_ONCE and self.backend not in CLAIMING:
            raise ValueError(f"backend {self.backend!r} has no claim/ack; at-least-once "
                             f"delivery needs one of {', '.join(sorted(CLAIMING))}")


@dataclass
class StressRun:
    """What happened: the history and the facts about the run that the history does not hold."""

    config: StressConfig
    history: list[dict[str, Any]]
    wall_seconds: float
    kills: int = 0
    worker_failures: list[str] = field(default_factory=list)
    failure: str | None = None


def run_stress(config: StressConfig, workdir: Path,
               progress: Progress | None = None) -> StressRun:
    """Run ``config`` against a new queue in ``workdir``; the history, drained at the end.

    ``progress(operations, kills, violations_so_far)`` is called about twice a second.
    """
    queue_path = _new_queue_directory(workdir) / "tasks.json"
    open_queue = functools.partial(open_backend, config.backend, queue_path, config.fsync)
    if config.precreate:
        open_queue()
    limits = Limits(config.timeout, config.duration,
                    None if config.kill_every_ms is None else config.kill_every_ms / 1000,
                    workdir / "stop-producing", workdir / "producers-done")
    for marker in (limits.stop_marker, limits.done_marker):
        marker.unlink(missing_ok=True)
    plan = functools.partial(_plan, config, limits)
    crew = Crew(split_quota(config.items, config.producers), config.consumers, config.readers)
    read_fd, report_fd = os.pipe()
    collector = Collector(read_fd)
    collector.start()
    supervisor = Supervisor(crew, plan, open_queue, collector, report_fd,
                            random.Random(config.seed))
    run = StressRun(config, [], 0.0)
    started = time.monotonic()
    try:
        with gathered_worker_logs(enabled=config.kill_every_ms is None):
            started = supervisor.start()
            run.failure = supervisor.supervise(started, limits, progress)
    finally:
        supervisor.stop()
        os.close(report_fd)
        collector.join()
    run.wall_seconds = time.monotonic() - started
    run.kills, run.worker_failures = supervisor.kills, supervisor.failures
    run.history = _history(config, open_queue, collector, supervisor)
    return run


def _new_queue_directory(workdir: Path) -> Path:
    """An empty ``workdir/queue``, whatever an earlier run left there."""
    workdir.mkdir(parents=True, exist_ok=True)
    directory = workdir / "queue"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def _plan(config: StressConfig, limits: Limits, role: str, process: int, quota: int,
          seed: int) -> WorkerPlan:
    return WorkerPlan(role, process, seed, quota=quota, delivery=config.delivery,
                      lease=config.lease, nack_fraction=config.nack_fraction,
                      stop_marker=limits.stop_marker, done_marker=limits.done_marker)


def _history(config: StressConfig, open_queue: Any, collector: Collector,
             supervisor: Supervisor) -> list[dict[str, Any]]:
    """Every operation of the workers, crashed and killed ones included, then the drain's,
    in the order they were called."""
    history = (collector.records + collector.crashed(supervisor.deaths)
               + supervisor.kill_records())
    limit = len(collector.records) + 10
    if config.delivery == AT_LEAST_ONCE:
        history += drain_claims(open_queue, config.lease, limit)
    else:
        history += drain_gets(open_queue, limit)
    history.sort(key=lambda op: op["call"])
    return history
