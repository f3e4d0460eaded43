"""Producer role: put a random task on the queue every few seconds, as the original did."""

from __future__ import annotations

import argparse
import logging
import random
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..contracts import TASK_PUT
from ..queue import FileQueue
from .lifecycle import Lifecycle, run_role
from .sequence import IdSequence
from .settings import (
    QUEUE_SETTINGS,
    TIMING_SETTINGS,
    Setting,
    build_parser,
    integer,
    open_queue,
    positive_int,
    seconds_range,
)
from .tasks import make_task

log = logging.getLogger("queue_core.roles.producer")

SETTINGS = (
    *QUEUE_SETTINGS,
    *TIMING_SETTINGS,
    Setting("--interval", "PRODUCER_INTERVAL", (2.0, 6.0), seconds_range,
            "seconds between two tasks, drawn uniformly from LOW:HIGH", "LOW:HIGH"),
    Setting("--max-tasks", "MAX_TASKS", None, positive_int,
            "stop after producing this many tasks (default: no limit)", "N"),
    Setting("--id-file", "ID_FILE", None, Path,
            "the file that keeps task ids unique (default: the queue file + '.ids')", "PATH"),
    Setting("--seed", "SEED", None, integer, "seed for the random choices", "N"),
    Setting("--batch", "PRODUCER_BATCH", 1, positive_int,
            "tasks put at once (one put_many: one lock, one write) every interval", "N"),
)


def produce(
    queue: FileQueue,
    ids: IdSequence,
    life: Lifecycle,
    rng: random.Random,
    *,
    interval: tuple[float, float],
    time_scale: float,
    max_tasks: int | None,
    batch: int = 1,
) -> int:
    """Put tasks until stopped or ``max_tasks`` are out; return how many were put. With
    ``batch`` above 1, each interval puts that many tasks at once with ``put_many``."""
    produced = 0
    while not life.stopping and (max_tasks is None or produced < max_tasks):
        count = batch if max_tasks is None else min(batch, max_tasks - produced)
        tasks = [make_task(ids.next(), rng) for _ in range(count)]
        if count == 1:
            queue.put(tasks[0])
        else:
            queue.put_many(tasks)
        produced += count
        for task in tasks:
            log.info("%s", TASK_PUT.format(id=task["id"], type=task["type"],
                                           priority=task["priority"]))
        if max_tasks is not None and produced >= max_tasks:
            break
        life.sleep(rng.uniform(*interval) * time_scale)
    return produced


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the producer; exit code 0 after a clean stop, 1 if the queue or its ids file
    cannot be used."""
    return run_role("producer", build_parser("queue-producer", __doc__, SETTINGS, environ),
                    argv, _run)


def _run(args: argparse.Namespace, life: Lifecycle) -> str:
    id_file = args.id_file or args.queue_file.with_name(args.queue_file.name + ".ids")
    queue = open_queue(args)
    ids = IdSequence(id_file, fsync=args.fsync, like=args.queue_file)
    log.info("started: queue %s, ids from %s", args.queue_file, id_file)
    produced = produce(
        queue, ids, life, random.Random(args.seed),
        interval=args.interval, time_scale=args.time_scale, max_tasks=args.max_tasks,
        batch=args.batch,
    )
    return f"stopped ({life.stop_reason or 'max tasks'}) after producing {produced} tasks"


if __name__ == "__main__":
    sys.exit(main())
