"""``python -m harness``: the harness's subcommands."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from queue_core.settings import positive_float, positive_int

EXIT_VALID, EXIT_VIOLATION, EXIT_FAILED = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="harness", description="Stress and verify file-based multi-process task queues."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    pod.add_argument("--drain-timeout", type=positive_float, default=60.0, metavar="S",
                     help="seconds the consumers get to finish the backlog (default 60)")
    pod.add_argument("--workdir", type=Path, default=None, metavar="DIR",
                     help="where the shared directories go (default: a new temporary directory)")
    pod.set_defaults(run=_run_pod)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; its exit code."""
    args = build_parser().parse_args(argv)
    return args.run(args)


def _run_pod(args: argparse.Namespace) -> int:
    from .pod import run_pod

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="queue-pod-"))
    print(f"running the Pod's roles in {workdir} for {args.duration:g} s "
          f"at time scale {args.time_scale:g}", flush=True)
    verdict = run_pod(workdir, duration=args.duration, time_scale=args.time_scale,
                      consumers=args.consumers, drain_timeout=args.drain_timeout, out=sys.stdout)
    print(verdict.describe(), flush=True)
    return EXIT_VALID if verdict.valid else EXIT_VIOLATION
