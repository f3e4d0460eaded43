"""``python -m harness``: stress, check, selftest, pod and crashpoints.

Exit codes: 0 = valid, 1 = a violation was found, 2 = bad arguments or the run itself failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from queue_core.settings import non_negative_float, positive_float, positive_int

from .backends import BACKENDS, CLAIMING

EXIT_VALID, EXIT_VIOLATION, EXIT_FAILED = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="harness", description="Stress and verify file-based multi-process task queues."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    stress = commands.add_parser(
        "stress", help="run many processes on one queue, record a history and check it",
        description="Spawn producers, consumers and size() readers as OS processes on one new "
        "queue, record every operation, drain the queue, check the history, and write "
        "DIR/history.jsonl, DIR/report.json and DIR/timeline.html.",
    )
    stress.add_argument("--producers", type=positive_int, default=4, metavar="P",
                        help="producer processes (default 4)")
    stress.add_argument("--consumers", type=positive_int, default=4, metavar="C",
                        help="consumer processes (default 4)")
    stress.add_argument("--readers", type=int, default=1, metavar="R",
                        help="processes calling size() in a loop, as the monitor does (default 1)")
    stress.add_argument("--items", type=positive_int, default=10_000, metavar="N",
                        help="items to put, split among the producers (default 10000)")
    stress.add_argument("--duration", type=positive_float, default=None, metavar="S",
                        help="stop putting after S seconds even if N items are not out yet")
    stress.add_argument("--backend", choices=sorted(BACKENDS), default="filequeue",
                        metavar="NAME", help="the queue to stress: " + ", ".join(sorted(BACKENDS)))
    stress.add_argument("--fsync", action="store_true", help="open the queue with fsync=True")
    stress.add_argument("--delivery", choices=("at-most-once", "at-least-once"),
                        default="at-most-once",
                        help="how consumers take items: get() (at-most-once, the default) or "
                        "claim() then ack(), with a few nack() (at-least-once)")
    stress.add_argument("--lease", type=positive_float, default=0.5, metavar="S",
                        help="at-least-once: the claims' lease in seconds (default 0.5)")
    stress.add_argument("--kill-every", type=positive_float, default=None, metavar="MS",
                        help="SIGKILL a random worker about every MS milliseconds and start a "
                        "replacement")
    stress.add_argument("--precreate", action="store_true",
                        help="create the queue before the workers start (by default they all "
                        "create it at once, which tests creation races)")
    stress.add_argument("--seed", type=int, default=None, metavar="K",
                        help="seed for every random choice (default: from the clock, printed)")
    stress.add_argument("--timeout", type=positive_float, default=600.0, metavar="S",
                        help="give up on a run that has not finished after S seconds")
    stress.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="where to write the results (default harness-runs/<time>)")
    stress.add_argument("--json", action="store_true", help="print the report as JSON")
    stress.set_defaults(run=_run_stress)

    check = commands.add_parser(
        "check", help="check a saved history and print the same report",
        description="Check a history file (JSON lines, the format stress writes) for lost, "
        "duplicated and unexpected items and for FIFO violations, or, for a claim/ack "
        "history, for lost, twice-acked and wrongly redelivered items.",
    )
    check.add_argument("history", type=Path, metavar="HISTORY.jsonl")
    check.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="also write DIR/report.json and DIR/timeline.html")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(run=_run_check)

    selftest = commands.add_parser(
        "selftest", help="prove the harness catches every known-bad queue and passes the real one",
        description="Stress each deliberately broken queue (harness/mutants.py) with the load "
        "that exposes its defect until a violation is found (at most 30 s each), and the real "
        "FileQueue with the same loads. Fails unless every mutant is caught and the real queue "
        "passes every run.",
    )
    selftest.add_argument("--seed", type=int, default=0, metavar="K", help="base seed (default 0)")
    selftest.add_argument("--out", type=Path, default=None, metavar="DIR",
                          help="keep the runs' queues here (default: a temporary directory)")
    selftest.set_defaults(run=_run_selftest)

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
                     help="where the shared directories go (default: a new temporary directory)")
    pod.set_defaults(run=_run_pod)

    from .crashpoints import add_parser as add_crashpoints
    add_crashpoints(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; its exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED


def _exit_code(valid: bool | None) -> int:
    return {True: EXIT_VALID, False: EXIT_VIOLATION, None: EXIT_FAILED}[valid]


def _run_stress(args: argparse.Namespace) -> int:
    from . import report as reporting
    from . import timeline
    from .checker import check
    from .history import write_history
    from .workers import StressConfig, run_stress

    if args.readers < 0:
        return _fail("--readers must be 0 or more")
    if args.delivery == "at-least-once" and args.backend not in CLAIMING:
        return _fail(f"backend {args.backend} has no claim/ack; at-least-once delivery needs "
                     f"one of {', '.join(sorted(CLAIMING))}")
    seed = args.seed if args.seed is not None else time.time_ns() % 1_000_000
    out = args.out or Path("harness-runs") / time.strftime("%Y%m%d-%H%M%S")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return _fail(f"cannot create the output directory {out}: {error.strerror}")
    config = StressConfig(
        producers=args.producers, consumers=args.consumers, readers=args.readers,
        items=args.items, duration=args.duration, backend=args.backend, fsync=args.fsync,
        kill_every_ms=args.kill_every, seed=seed, timeout=args.timeout, precreate=args.precreate,
        delivery=args.delivery, lease=args.lease,
    )
    if not args.json:
        print(f"stress: seed {seed}, results in {out}", flush=True)
    progress = _Progress() if sys.stderr.isatty() else None
    run = run_stress(config, out / "work", progress=progress)
    if progress is not None:
        progress.close()
    write_history(out / "history.jsonl", run.history)
    result = check(run.history)
    data = reporting.build(result, run.history, run)
    (out / "report.json").write_text(json.dumps(data, indent=2) + "\n")
    timeline.write(out / "timeline.html", run.history, result, f"stress on {config.backend}")
    _print(data, args.json, reporting.render_text)
    if run.failure is not None:
        return EXIT_FAILED
    return _exit_code(result.valid)


def _run_check(args: argparse.Namespace) -> int:
    from . import report as reporting
    from . import timeline
    from .checker import check
    from .history import HistoryError, read_history

    try:
        history = read_history(args.history)
    except HistoryError as error:
        return _fail(str(error))
    if not history:
        return _fail(f"{args.history} holds no operations")
    result = check(history)
    data = reporting.build(result, history)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(data, indent=2) + "\n")
        timeline.write(args.out / "timeline.html", history, result, f"check of {args.history}")
    _print(data, args.json, reporting.render_text)
    return _exit_code(result.valid)


def _run_selftest(args: argparse.Namespace) -> int:
    from .selftest import selftest

    def announce(outcome: Any) -> None:
        verdict = {True: "passed", False: "caught", None: "unknown"}[outcome.valid]
        mark = "ok  " if outcome.as_expected else "FAIL"
        print(f"{mark} {outcome.scenario.name:17} {outcome.backend:21} {verdict:7} after "
              f"{outcome.runs} run(s), {outcome.seconds:5.1f} s"
              + (f": {outcome.first_violation}" if outcome.valid is False else ""), flush=True)

    outcomes = selftest(args.out, args.seed, announce)
    failed = [o for o in outcomes if not o.as_expected]
    print(f"selftest: {len(outcomes) - len(failed)} of {len(outcomes)} as expected; "
          + ("every mutant caught, the real queue passed" if not failed else "FAILED"))
    return EXIT_VALID if not failed else EXIT_VIOLATION


class _Progress:
    """A live line on the terminal: operations, rate, kills, violations so far."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, operations: int, kills: int, violations: int) -> None:
        rate = operations / max(time.monotonic() - self.started, 1e-9)
        print(f"\r{operations:>9} ops  {rate:>8.0f} ops/s  {kills:>5} kills  "
              f"{violations} violations so far", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        print(file=sys.stderr, flush=True)


def _print(data: dict[str, Any], as_json: bool, render: Any) -> None:
    print(json.dumps(data, indent=2) if as_json else render(data), flush=True)


def _fail(reason: str) -> int:
    print(f"harness: error: {reason}", file=sys.stderr)
    return EXIT_FAILED


def _run_pod(args: argparse.Namespace) -> int:
    from .pod import run_pod

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="queue-pod-"))
    print(f"running the Pod's roles in {workdir} for {args.duration:g} s "
          f"at time scale {args.time_scale:g}", flush=True)
    verdict = run_pod(workdir, duration=args.duration, time_scale=args.time_scale,
                      consumers=args.consumers, drain_timeout=args.drain_timeout, out=sys.stdout)
    print(verdict.describe(), flush=True)
    return EXIT_VALID if verdict.valid else EXIT_VIOLATION
