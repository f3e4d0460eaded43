"""Consumer role: take tasks from the queue, simulate the work, write one result per task."""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import QueueError
from .lifecycle import Lifecycle, configure_logging
from .queue import FileQueue
from .results import write_result
from .settings import (
    QUEUE_SETTINGS,
    RESULTS_SETTING,
    TIMING_SETTINGS,
    Setting,
    build_parser,
    integer,
    non_negative_float,
    positive_int,
    seconds_range,
    work_time_table,
    worker_name,
)
from .tasks import DEFAULT_OTHER_WORK_TIME, DEFAULT_WORK_TIMES, task_problem, work_seconds

log = logging.getLogger("queue_core.consumer")

SETTINGS = (
    *QUEUE_SETTINGS,
    RESULTS_SETTING,
    *TIMING_SETTINGS,
    Setting("--work-times", "WORK_TIMES", DEFAULT_WORK_TIMES, work_time_table,
            "simulated work seconds per task type; types not named keep their default",
            "TYPE=LOW:HIGH,..."),
    Setting("--other-work-time", "OTHER_WORK_TIME", DEFAULT_OTHER_WORK_TIME, seconds_range,
            "simulated work seconds for any other task type", "LOW:HIGH"),
    Setting("--idle-sleep", "IDLE_SLEEP", 3.0, non_negative_float,
            "seconds to wait when the queue is empty", "S"),
    Setting("--max-tasks", "MAX_TASKS", None, positive_int,
            "stop after completing this many tasks (default: no limit)", "N"),
    Setting("--worker-id", "WORKER_ID", None, str,
            "the name written as processed_by (default: $WORKER_ID, else the host name)", "NAME"),
    Setting("--seed", "SEED", None, integer, "seed for the simulated work times", "N"),
)


def consume(
    queue: FileQueue,
    life: Lifecycle,
    rng: random.Random,
    *,
    results_dir: Path,
    worker: str,
    work_times: dict[str, tuple[float, float]] = DEFAULT_WORK_TIMES,
    other_work_time: tuple[float, float] = DEFAULT_OTHER_WORK_TIME,
    idle_sleep: float = 3.0,
    time_scale: float = 1.0,
    max_tasks: int | None = None,
    fsync: bool = False,
) -> int:
    """Process tasks until stopped or ``max_tasks`` are done; return how many were completed.

    A stop that arrives during a task's work puts the task back on the queue (at the tail)
    instead of losing it.
    """
    Path(results_dir).mkdir(parents=True, exist_ok=True)
    completed = 0
    idle = False
    while not life.stopping and (max_tasks is None or completed < max_tasks):
        task = queue.get()
        if task is None:
            if not idle:
                log.info("queue empty, waiting for tasks")
            idle = True
            life.sleep(idle_sleep * time_scale)
            continue
        idle = False
        problem = task_problem(task)
        if problem is not None:
            log.error("discarded malformed task %s: %s", json.dumps(task)[:500], problem)
            continue
        log.info("processing task id=%s type=%s", task["id"], task["type"])
        started = time.monotonic()
        seconds = work_seconds(task["type"], rng, work_times, other_work_time) * time_scale
        if not life.sleep(seconds):
            queue.put(task)
            log.warning("stopped during task id=%s; put it back on the queue", task["id"])
            break
        write_result(results_dir, _result(task, worker, time.monotonic() - started), fsync=fsync)
        completed += 1
        log.info("completed task id=%s", task["id"])
    return completed


def _result(task: dict[str, Any], worker: str, processing_time: float) -> dict[str, Any]:
    return {
        "task_id": task["id"],
        "type": task["type"],
        "status": "completed",
        "processing_time": round(processing_time, 6),
        "processed_by": worker,
        "completed_at": datetime.now().isoformat(),
    }


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the consumer; exit code 0 after a clean stop, 1 if the queue cannot be used."""
    parser = build_parser("queue-consumer", __doc__, SETTINGS, environ)
    args = parser.parse_args(argv)
    configure_logging("consumer")
    life = Lifecycle(args.duration)
    life.handle_signals()
    worker = args.worker_id or worker_name(environ)
    try:
        queue = FileQueue(args.queue_file, fsync=args.fsync, format=args.queue_format)
        log.info("started as %s: queue %s, results in %s",
                 worker, args.queue_file, args.results_dir)
        completed = consume(
            queue, life, random.Random(args.seed),
            results_dir=args.results_dir, worker=worker,
            work_times={**DEFAULT_WORK_TIMES, **args.work_times},
            other_work_time=args.other_work_time, idle_sleep=args.idle_sleep,
            time_scale=args.time_scale, max_tasks=args.max_tasks, fsync=args.fsync,
        )
    except (QueueError, OSError) as error:
        log.error("%s", error)
        return 1
    log.info("stopped (%s) after completing %d tasks", life.stop_reason or "max tasks", completed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
