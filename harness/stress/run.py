"""A stress run, composed: a new queue, the supervised workers, the collector, the final drain,
and the history they make together."""

from __future__ import annotations

import functools
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backends.registry import BackendSpec, resolve
from ..history.collector import Collector
from ..history.format import AT_LEAST_ONCE, WORKER
from ..interrupt import StopRequest
from .config import StressConfig
from .drain import drain_claims, drain_gets
from .progress import Progress
from .schedule import Choices, split_quota
from .supervisor import Crew, Limits, Supervisor, gathered_worker_logs
from .tamper import Tamperer
from .worker import WorkerPlan


@dataclass
class StressRun:
    """What happened: the history and the facts about the run that the history does not hold."""

    config: StressConfig
    history: list[dict[str, Any]]
    wall_seconds: float
    kills: int = 0
    worker_failures: list[str] = field(default_factory=list)
    #: Why the run ended before its workers finished (a timeout, a signal), if it did: its
    #: history is then partial.
    failure: str | None = None
    #: The stop signal that ended the run, if one did.
    stopped_by: int | None = None
    #: Each kill: seconds since the start, and the role, slot and process it hit.
    kill_log: list[dict[str, Any]] = field(default_factory=list)
    #: The directory of this run's queue and markers, made for it alone.
    run_dir: Path | None = None
    #: Where the workers ran when they ran in containers (platform, image, restarts, users).
    placement: dict[str, Any] | None = None
    #: What ``--tamper`` did to the queue's files, by kind.
    tampered: dict[str, int] = field(default_factory=dict)

    @property
    def partial(self) -> bool:
        """True when the workers did not all finish: the history stops where the run did."""
        return self.failure is not None


def run_stress(config: StressConfig, workdir: Path, progress: Progress | None = None,
               stop: StopRequest | None = None, keep_history_in: Path | None = None
               ) -> StressRun:
    """Run ``config`` against a new queue in a new directory under ``workdir``; the history,
    drained at the end. Nothing that the run did not create is changed or removed.

    ``progress`` is called about twice a second; a ``stop`` request ends the run early (the
    workers are stopped, the queue drained, the history marked partial). Records are appended
    to ``keep_history_in`` as they arrive, so a harness that dies keeps them.
    """
    spec = resolve(config.backend)
    spec.refuse_unless(config.delivery, config.fsync)
    workdir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    (run_dir / "queue").mkdir()
    open_queue = QueueOpener(spec, run_dir / "queue", config.fsync)
    if config.precreate:
        open_queue()
    limits = Limits(config.timeout, config.duration,
                    None if config.kill_every_ms is None else config.kill_every_ms / 1000,
                    run_dir / "stop-producing", run_dir / "producers-done")
    plan = functools.partial(_plan, config, limits)
    crew = Crew(split_quota(config.items, config.producers), config.consumers, config.readers)
    read_fd, report_fd = os.pipe()
    collector = Collector(read_fd, keep_history_in)
    collector.start()
    supervisor = Supervisor(crew, plan, open_queue, collector, report_fd, Choices(config.seed))
    run = StressRun(config, [], 0.0, run_dir=run_dir)
    started = time.monotonic()
    tamperer = Tamperer(run_dir / "queue", config.tamper, config.tamper_every, config.seed)
    try:
        with gathered_worker_logs(enabled=config.kill_every_ms is None):
            started = supervisor.start()
            if config.tamper:
                tamperer.start()
            run.failure = supervisor.supervise(started, limits, progress, stop)
    finally:
        if tamperer.is_alive():
            tamperer.stop()
        supervisor.stop()
        os.close(report_fd)
        collector.join()
    run.tampered = dict(tamperer.done)
    run.wall_seconds = time.monotonic() - started
    run.kills, run.worker_failures = supervisor.kills, supervisor.failures
    run.kill_log = supervisor.kill_log
    run.stopped_by = None if stop is None else stop.signum
    run.history = _history(config, open_queue, collector, supervisor)
    return run


@dataclass(frozen=True)
class QueueOpener:
    """Opens the run's queue: the backend ``spec`` on ``directory``, where its files are."""

    spec: BackendSpec
    directory: Path
    fsync: bool

    def __call__(self, **options: Any) -> Any:
        return self.spec.open(self.directory, self.fsync, **options)


def _plan(config: StressConfig, limits: Limits, role: str, process: int, quota: int,
          seed: int) -> WorkerPlan:
    return WorkerPlan(role, process, seed, config, quota, limits.stop_marker,
                      limits.done_marker)


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
    for record in history:
        worker = supervisor.worker_of.get(record["process"])
        if worker is not None:
            record[WORKER] = worker
    history.sort(key=lambda op: op["call"])
    return history
