"""``harness pod``: the Pod's roles as local processes on a shared directory, and the check that
every produced task has exactly one result."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from queue_core.roles.settings import non_negative_float, positive_float, positive_int

from ..interrupt import StopRequest
from ..localpod import run_pod
from ..reporting.console import EXIT_VALID, EXIT_VIOLATION, console
from ..reporting.console import usable_directory as usable


def add_parser(commands: Any) -> None:
    """Register ``pod``."""
    pod = commands.add_parser(
        "pod", help="run the Pod's roles as local processes and check their results",
        description="Run the producer, the consumers and the monitor as local processes on "
        "a shared directory, as the Pod runs them; after the run, let the consumers finish "
        "the backlog, stop every role with SIGTERM and check that each produced task has "
        "exactly one result. Exit code 0 = valid, 1 = a problem was found, 2 = bad arguments.",
    )
    pod.add_argument("--duration", type=positive_float, default=10.0, metavar="S",
                     help="seconds the producer runs (default 10)")
    pod.add_argument("--time-scale", type=positive_float, default=0.02, metavar="F",
                     help="factor on every sleep of the roles (default 0.02: 50 times faster)")
    pod.add_argument("--consumers", type=positive_int, default=2, metavar="N",
                     help="number of consumer processes (default 2)")
    pod.add_argument("--drain-timeout", type=non_negative_float, default=60.0, metavar="S",
                     help="seconds the consumers get to finish the backlog (default 60)")
    pod.add_argument("--workdir", type=Path, default=None, metavar="DIR",
                     help="where the shared directories go (default: a new temporary directory, "
                     "removed at the end unless --keep)")
    pod.add_argument("--keep", action="store_true",
                     help="keep the temporary directory of the roles")
    pod.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """The ``pod`` command; its exit code."""
    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="queue-pod-")) if temporary else usable(
        args.workdir, "--workdir")
    for shared in ("shared-queue", "shared-results"):
        usable(workdir / shared, "--workdir")
    console.say(f"running the Pod's roles in {workdir} for {args.duration:g} s "
                f"at time scale {args.time_scale:g}")
    stop = StopRequest().install()
    try:
        verdict = run_pod(workdir, duration=args.duration, time_scale=args.time_scale,
                          consumers=args.consumers, drain_timeout=args.drain_timeout,
                          say=console.say, stop=stop)
    finally:
        stop.restore()
        if temporary and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    console.say(verdict.describe())
    if stop.requested:
        return EXIT_VIOLATION if verdict.certain_violations else stop.exit_code
    return EXIT_VALID if verdict.valid else EXIT_VIOLATION
