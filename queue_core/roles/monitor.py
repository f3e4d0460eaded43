"""Monitor role: report the queue (waiting, in flight, delayed, dead, oldest waiting age) and
the completed results at a steady interval."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ..claims import QueueStats
from ..contracts import DEFAULT_MAX_ATTEMPTS
from ..errors import CorruptQueueError, QueueError, QueueNotFoundError
from ..queue import FileQueue
from .lifecycle import Lifecycle, run_role
from .results import ResultsTally
from .settings import (
    QUEUE_SETTINGS,
    RESULTS_SETTING,
    TIMING_SETTINGS,
    Setting,
    boolean,
    build_parser,
    non_negative_float,
    positive_float,
)

log = logging.getLogger("queue_core.roles.monitor")

SETTINGS = (
    *QUEUE_SETTINGS,
    RESULTS_SETTING,
    *TIMING_SETTINGS,
    Setting("--initial-delay", "MONITOR_INITIAL_DELAY", 5.0, non_negative_float,
            "seconds to wait before the first report", "S"),
    Setting("--interval", "MONITOR_INTERVAL", 10.0, positive_float,
            "seconds between two reports", "S"),
    Setting("--once", "MONITOR_ONCE", False, boolean, "print one report now and exit"),
    Setting("--json", "MONITOR_JSON", False, boolean, "print each report as one JSON line"),
)


class QueueProbe:
    """Reads the queue's figures for reports, turning every queue problem into a message.

    It only reads: a queue that does not exist is reported, never created. It opens the queue
    once it exists, and keeps it open.
    """

    def __init__(self, path: Path, queue_format: str,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> None:
        self._path = Path(path)
        self._format = queue_format
        self._max_attempts = max_attempts
        self._queue: FileQueue | None = None
        #: What went wrong in the last ``stats()``, or None.
        self.error: QueueError | OSError | None = None

    def stats(self) -> tuple[QueueStats | None, str | None]:
        """(stats, None), or (None, what went wrong); ``error`` keeps the exception."""
        try:
            if self._queue is None:
                _require_queue(self._path)
                self._queue = FileQueue(self._path, format=self._format,
                                        max_attempts=self._max_attempts)
            self.error = None
            return self._queue.stats(), None
        except (QueueError, OSError) as error:
            self.error = error
            return None, str(error)


def _require_queue(path: Path) -> None:
    """Raise unless a queue file is at ``path``, since opening would create one.

    ``QueueNotFoundError`` when nothing is there, ``CorruptQueueError`` when something other
    than a file is.
    """
    directory = path.parent
    if not directory.exists():
        raise QueueNotFoundError(path, f"the directory {directory} does not exist")
    if not directory.is_dir():
        raise QueueNotFoundError(path, f"{directory} is not a directory")
    if not path.exists():
        raise QueueNotFoundError(path, "the queue file does not exist (not created yet, or a "
                                       "mistyped path)")
    if not path.is_file():
        raise CorruptQueueError(path, "it is not a regular file")


def build_report(probe: QueueProbe, results: Path | ResultsTally) -> dict[str, Any]:
    """One report: the queue's figures, completed and unreadable results, averages and counts.

    ``queue_size`` is the number of waiting items; every queue figure is ``None`` when the
    queue cannot be read, and ``queue_error`` says why. ``results`` is the tally that the
    previous reports kept (only the files new since are read), or a directory to read afresh.
    """
    stats, queue_error = probe.stats()
    tally = results if isinstance(results, ResultsTally) else ResultsTally(results)
    summary = tally.update()
    average = summary.average_processing_time
    age = None if stats is None else stats.oldest_waiting_age
    return {
        "time": datetime.now().isoformat(),
        "queue_size": None if stats is None else stats.waiting,
        "in_flight": None if stats is None else stats.in_flight,
        "delayed": None if stats is None else stats.delayed,
        "dead": None if stats is None else stats.dead,
        "oldest_waiting_age": None if age is None else round(age, 3),
        "queue_error": queue_error,
        "completed": summary.completed,
        "unreadable": summary.unreadable,
        "average_processing_time": None if average is None else round(average, 6),
        "by_type": dict(sorted(summary.by_type.items())),
        "by_worker": dict(sorted(summary.by_worker.items())),
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as one line of text."""
    average = report["average_processing_time"]
    if report["queue_error"] is None:
        age = report["oldest_waiting_age"]
        queue_parts = [f"queue={report['queue_size']}", f"in_flight={report['in_flight']}",
                       f"delayed={report['delayed']}", f"dead={report['dead']}",
                       "oldest_waiting=" + ("n/a" if age is None else f"{age:.1f}s")]
    else:
        queue_parts = ["queue=unknown"]
    parts = [
        *queue_parts,
        f"completed={report['completed']}",
        f"unreadable={report['unreadable']}",
        "avg_processing=" + ("n/a" if average is None else f"{average:.3f}s"),
        "types: " + (" ".join(f"{k}={v}" for k, v in report["by_type"].items()) or "none"),
        "workers: " + (" ".join(f"{k}={v}" for k, v in report["by_worker"].items()) or "none"),
    ]
    if report["queue_error"] is not None:
        parts.append(f"queue error: {report['queue_error']}")
    return " | ".join(parts)


def emit(report: dict[str, Any], as_json: bool) -> None:
    """Print one report as a single flushed stdout line."""
    line = json.dumps(report) if as_json else "report: " + format_report(report)
    print(line, flush=True)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the monitor; exit code 0 after a clean stop or a single report.

    With ``--once``, a queue that does not exist is exit code 2 and one that cannot be read
    is 1, each with one logged line instead of the report; the loop reports both as
    ``queue_error`` at every interval. The monitor never creates the queue.
    """
    return run_role("monitor", build_parser("queue-monitor", __doc__, SETTINGS, environ),
                    argv, _run)


def _run(args: argparse.Namespace, life: Lifecycle) -> str | None:
    probe = QueueProbe(args.queue_file, args.queue_format, args.max_attempts)
    if args.once:
        report = build_report(probe, args.results_dir)
        if probe.error is not None:
            raise probe.error
        emit(report, args.json)
        return None
    log.info("started: queue %s, results in %s", args.queue_file, args.results_dir)
    pause = args.initial_delay * args.time_scale
    tally = ResultsTally(args.results_dir)
    while life.sleep(pause):
        emit(build_report(probe, tally), args.json)
        pause = args.interval * args.time_scale
    return f"stopped ({life.stop_reason})"


if __name__ == "__main__":
    sys.exit(main())
