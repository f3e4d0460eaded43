"""Consumer role: take tasks from the queue, simulate the work, write one result per task.

With ``--delivery at-least-once`` (the default) a task is claimed under a lease that is
extended while it is worked on and acknowledged once its result is written: a consumer killed
mid-task leaves the task to be done again by another. ``at-most-once`` takes tasks with
``get()`` as the original did: a consumer killed mid-task loses it.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ..claims import Claim
from ..contracts import AT_LEAST_ONCE, AT_MOST_ONCE, DELIVERY_MODES, TASK_COMPLETED
from ..errors import ClaimError
from ..queue import FileQueue
from .lifecycle import Lifecycle, run_role
from .results import write_result
from .settings import (
    QUEUE_SETTINGS,
    RESULTS_SETTING,
    TIMING_SETTINGS,
    Setting,
    boolean,
    build_parser,
    integer,
    non_negative_float,
    open_queue,
    positive_float,
    positive_int,
    seconds_range,
    work_time_table,
    worker_name,
)
from .tasks import DEFAULT_OTHER_WORK_TIME, DEFAULT_WORK_TIMES, task_problem, work_seconds

log = logging.getLogger("queue_core.roles.consumer")
#: A waiting consumer returns from ``get``/``claim`` this often to notice a stop (SIGTERM).
STOP_CHECK_SECONDS = 0.5

def delivery_mode(text: str) -> str:
    """``at-least-once`` or ``at-most-once``."""
    if text not in DELIVERY_MODES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a delivery mode; choose {' or '.join(DELIVERY_MODES)}")
    return text


SETTINGS = (
    *QUEUE_SETTINGS,
    RESULTS_SETTING,
    *TIMING_SETTINGS,
    Setting("--work-times", "WORK_TIMES", DEFAULT_WORK_TIMES, work_time_table,
            "simulated work seconds per task type; types not named keep their default",
            "TYPE=LOW:HIGH,..."),
    Setting("--other-work-time", "OTHER_WORK_TIME", DEFAULT_OTHER_WORK_TIME, seconds_range,
            "simulated work seconds for any other task type", "LOW:HIGH"),
    Setting("--wait", "CONSUMER_WAIT", True, boolean,
            "on an empty queue, block in get/claim and take a task as soon as it is put; "
            "--no-wait polls every --idle-sleep seconds instead"),
    Setting("--idle-sleep", "IDLE_SLEEP", 3.0, non_negative_float,
            "with --no-wait: seconds to sleep when the queue is empty", "S"),
    Setting("--max-tasks", "MAX_TASKS", None, positive_int,
            "stop after completing this many tasks (default: no limit)", "N"),
    Setting("--worker-id", "WORKER_ID", None, str,
            "the name written as processed_by (default: $WORKER_ID, else the host name)", "NAME"),
    Setting("--seed", "SEED", None, integer, "seed for the simulated work times", "N"),
    Setting("--delivery", "DELIVERY", AT_LEAST_ONCE, delivery_mode,
            f"{AT_LEAST_ONCE}: claim, work, ack (a task of a killed consumer is done again); "
            f"{AT_MOST_ONCE}: get, work (it is lost)", "MODE"),
    Setting("--lease", "LEASE", 30.0, positive_float,
            "seconds a claim hides a task from other consumers; renewed during the work "
            "(real seconds, not scaled)", "S"),
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
    delivery: str = AT_LEAST_ONCE,
    lease: float = 30.0,
    wait: bool = True,
) -> int:
    """Process tasks until stopped or ``max_tasks`` are done; return how many were completed.

    On an empty queue, with ``wait`` the consumer blocks in ``claim``/``get`` (woken by the
    next put, and every ``STOP_CHECK_SECONDS`` to notice a stop); without it, it sleeps
    ``idle_sleep`` seconds (times ``time_scale``) between looks, as the original did.

    A stop that arrives during a task's work gives the task back: at its place in the queue
    with a claim, at the tail otherwise. A task is never dropped by a stop.
    """
    Path(results_dir).mkdir(parents=True, exist_ok=True)
    completed = 0
    idle = False
    while not life.stopping and (max_tasks is None or completed < max_tasks):
        claim, task = _take(queue, delivery, lease, STOP_CHECK_SECONDS if wait and idle else 0.0)
        if task is None:
            if not idle:
                log.info("queue empty, waiting for tasks")
            idle = True
            life.sleep(0.0 if wait else idle_sleep * time_scale)  # waited in _take already
            continue
        idle = False
        if _discarded_as_malformed(queue, claim, task):
            continue
        log.info("processing task id=%s type=%s%s", task["id"], task["type"],
                 "" if claim is None or claim.attempt == 1 else f" (attempt {claim.attempt})")
        started = time.monotonic()
        seconds = work_seconds(task["type"], rng, work_times, other_work_time) * time_scale
        outcome, claim = _work(queue, claim, life, seconds, lease)
        if outcome == "stopped":
            _give_back(queue, claim, task)
            break
        if outcome == "done":
            _finish(queue, claim, task, results_dir,
                    _result(task, worker, time.monotonic() - started), fsync)
            completed += 1
    return completed


def _discarded_as_malformed(queue: FileQueue, claim: Claim | None, task: Any) -> bool:
    """True if ``task`` is not a task the consumer can do: logged, and acked (dropped)."""
    problem = task_problem(task)
    if problem is None:
        return False
    log.error("discarded malformed task %s: %s", json.dumps(task)[:500], problem)
    if claim is not None:
        _answer(queue.ack, claim)
    return True


def _take(queue: FileQueue, delivery: str, lease: float,
          timeout: float) -> tuple[Claim | None, Any]:
    """The next task, waiting up to ``timeout`` seconds for one, with its claim under
    at-least-once delivery: (claim, task or None)."""
    if delivery == AT_LEAST_ONCE:
        claim = queue.claim(lease, timeout=timeout)
        return claim, None if claim is None else claim.item
    return None, queue.get(timeout=timeout)


def _finish(queue: FileQueue, claim: Claim | None, task: dict[str, Any], results_dir: Path,
            result: dict[str, Any], fsync: bool) -> None:
    """Write the task's result, then acknowledge its claim."""
    write_result(results_dir, result, fsync=fsync)
    if claim is not None:
        _answer(queue.ack, claim)
    log.info("%s", TASK_COMPLETED.format(id=task["id"]))


def _give_back(queue: FileQueue, claim: Claim | None, task: dict[str, Any]) -> None:
    """Return a task whose work a stop interrupted: at its place with a claim, else at the tail."""
    if claim is None:
        queue.put(task)
        log.warning("stopped during task id=%s; put it back on the queue", task["id"])
    elif _answer(queue.nack, claim):
        log.warning("stopped during task id=%s; gave it back at its place", task["id"])


def _work(
    queue: FileQueue, claim: Claim | None, life: Lifecycle, seconds: float, lease: float
) -> tuple[str, Claim | None]:
    """Simulate ``seconds`` of work, renewing ``claim`` a few times per lease:
    ("done" | "stopped" | "lost", the claim as last renewed)."""
    if claim is None:
        return ("done" if life.sleep(seconds) else "stopped"), None
    remaining = seconds
    while True:
        step = min(remaining, lease / 3)
        if not life.sleep(step):
            return "stopped", claim
        remaining -= step
        if remaining <= 0:
            return "done", claim
        try:
            claim = queue.extend(claim, lease)
        except ClaimError as error:
            log.warning("abandoned task %s: %s", claim.item.get("id"), error)
            return "lost", claim


def _answer(action: Callable[[Claim], None], claim: Claim) -> bool:
    """Ack or nack ``claim``; False (logged) if the claim had ended meanwhile."""
    try:
        action(claim)
    except ClaimError as error:
        log.warning("%s", error)
        return False
    return True


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
    """Run the consumer; exit code 0 after a clean stop, 1 if the queue or the results
    directory cannot be used."""
    parser = build_parser("queue-consumer", __doc__, SETTINGS, environ)
    return run_role("consumer", parser, argv,
                    lambda args, life: _run(args, life, args.worker_id or worker_name(environ)))


def _run(args: argparse.Namespace, life: Lifecycle, worker: str) -> str:
    queue = open_queue(args)
    log.info("started as %s: queue %s, results in %s, %s delivery",
             worker, args.queue_file, args.results_dir, args.delivery)
    completed = consume(
        queue, life, random.Random(args.seed),
        results_dir=args.results_dir, worker=worker,
        work_times={**DEFAULT_WORK_TIMES, **args.work_times},
        other_work_time=args.other_work_time, idle_sleep=args.idle_sleep,
        time_scale=args.time_scale, max_tasks=args.max_tasks, fsync=args.fsync,
        delivery=args.delivery, lease=args.lease, wait=args.wait,
    )
    return f"stopped ({life.stop_reason or 'max tasks'}) after completing {completed} tasks"


if __name__ == "__main__":
    sys.exit(main())
