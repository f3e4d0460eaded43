"""``python -m harness crashpoints``: crash points, power loss, the fault check and the storage
selftest from the command line. Exit 0 = every point good, 1 = bad points, 2 = could not run."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ..disk.crashpoints import explore
from ..disk.sequences import SECOND
from ..disk.workloads import WORKLOADS, Opener
from ..errors import CrashpointsError

EXIT_VALID, EXIT_BAD, EXIT_FAILED = 0, 1, 2


# -- the command -----------------------------------------------------------------------------


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``crashpoints`` on ``subparsers`` (``argparse``'s ``add_subparsers()``)."""
    from ..disk.mutants import QUEUES

    parser = subparsers.add_parser(
        "crashpoints", help="stop the queue at every file-changing call and check what is left",
        description="Run a deterministic workload once to record every file-changing call the "
        "queue makes, then stop a fresh run before, after and half-way through each call (or, "
        "with --power-loss, build every state a power loss may leave) and check that every "
        "operation that returned survived, nothing is duplicated, the order holds and the "
        "queue opens. Exit 0 = every point good, 1 = bad points, 2 = could not run.",
    )
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="put-get")
    parser.add_argument("--format", default="journal", metavar="F",
                        help="the queue's storage format (default journal)")
    parser.add_argument("--fsync", action="store_true", help="open the queue with fsync=True")
    parser.add_argument("--power-loss", action="store_true",
                        help="check the states a power loss may leave (needs --fsync)")
    parser.add_argument("--queue", choices=sorted(QUEUES), default="filequeue",
                        help="the queue to explore: the real one or a selftest mutant")
    parser.add_argument("--stride", type=int, default=1, metavar="N",
                        help="explore only every N-th call (default: every call)")
    parser.add_argument("--depth", type=int, choices=(1, 2), default=1,
                        help="2: after each stop, the recovery (open, puts, gets, claims) is "
                        "stopped in its turn: crashed at each of its calls, a second power "
                        "loss before each (after a reboot), and run under faults that may "
                        "follow one another (default 1: one stop)")
    parser.add_argument("--second", default=",".join(SECOND), metavar="KINDS",
                        help="with --depth 2: the second stops to try, some of "
                        f"{','.join(SECOND)} (default: all)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="keep the directories of bad points here (default: a temporary "
                        "directory, removed when every point is good)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--faults", default=None, metavar="KINDS",
                        help="instead of crash points: run the workload under random storage "
                        "faults (some of enospc,eio,short-write; harness/disk/faults.py) and check "
                        "that failed operations did nothing and the others were kept")
    parser.add_argument("--fault-rate", type=float, default=0.05, metavar="P",
                        help="with --faults: the probability that a file call fails "
                        "(default 0.05)")
    parser.add_argument("--seeds", type=int, default=10, metavar="N",
                        help="with --faults: seeded runs of 300 operations (default 10)")
    parser.add_argument("--selftest", action="store_true",
                        help="instead: check that crashpoints and the fault check catch each "
                        "storage mutant and pass the reference queue (exit 0 if so)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """The ``crashpoints`` subcommand; its exit code."""
    from queue_core.storage import FORMATS

    from ..disk.mutants import QUEUES

    if args.selftest:
        return _run_selftest(args.out)
    if args.format not in FORMATS:
        return _fail(f"unknown format {args.format!r}; choose one of {', '.join(FORMATS)}")
    if args.power_loss and not args.fsync:
        return _fail("--power-loss needs --fsync: without fsync the queue promises nothing "
                     "after a power loss")
    if args.stride < 1:
        return _fail("--stride must be 1 or more")
    second = tuple(k.strip() for k in args.second.split(",") if k.strip())
    if not second or any(k not in SECOND for k in second):
        return _fail(f"--second {args.second}: some of {', '.join(SECOND)}")
    if args.workload == "claims" and args.queue != "filequeue":
        return _fail(f"{args.queue} has put and get only: use --workload put-get")
    if args.faults is not None:
        return _run_faults(args, QUEUES[args.queue])
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    tty = sys.stderr.isatty() and not args.json

    def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total}", end="", file=sys.stderr, flush=True)

    started = time.monotonic()
    try:
        result = explore(args.workload, format=args.format, fsync=args.fsync,
                         power_loss=args.power_loss, opener=QUEUES[args.queue], root=args.out,
                         stride=args.stride, progress=progress if tty else None,
                         depth=args.depth, second=second)
    except CrashpointsError as error:
        return _fail(str(error))
    if tty:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        for bad in result.bad:
            print(bad.render())
        print(f"crashpoints ({args.queue}, {result.label}): {result.calls} file-changing calls, "
              f"{result.points} points explored, {len(result.bad)} bad "
              f"({time.monotonic() - started:.1f} s)")
    return EXIT_BAD if result.bad else EXIT_VALID


def _run_faults(args: argparse.Namespace, opener: Opener) -> int:
    from ..disk.faults import check_under_faults, parse_faults

    try:
        kinds = parse_faults(args.faults)
        if args.seeds < 1:
            raise ValueError("--seeds must be 1 or more")
        checks = [check_under_faults(opener, args.out, kinds=kinds, rate=args.fault_rate,
                                     seed=seed, fsync=args.fsync, format=args.format,
                                     workload=args.workload) for seed in range(args.seeds)]
    except ValueError as error:
        return _fail(str(error))
    bad = [(seed, c) for seed, c in enumerate(checks) if c.problems]
    if args.json:
        print(json.dumps([{"seed": seed, "operations": c.operations, "failed": c.failed,
                           "injected": dict(c.injected), "problems": c.problems}
                          for seed, c in enumerate(checks)], indent=2))
    else:
        for seed, check in bad:
            print(f"BAD seed {seed}:")
            print("\n".join(f"    {p}" for p in check.problems[:5]))
        injected = sum(sum(c.injected.values()) for c in checks)
        print(f"faults ({args.queue}, {args.workload}, {args.format}, "
              f"fsync={'on' if args.fsync else 'off'}, {','.join(kinds)} at "
              f"{args.fault_rate:g}): {len(checks)} runs, {injected} faults injected, "
              f"{sum(c.failed for c in checks)} operations failed, {len(bad)} runs bad")
    return EXIT_BAD if bad else EXIT_VALID


def _run_selftest(out: Path | None) -> int:
    from ..disk import selftest as storage_selftest

    def announce(outcome: storage_selftest.StorageOutcome) -> None:
        verdict = "caught" if outcome.caught else "passed"
        mark = "ok " if outcome.as_expected else "BAD"
        print(f"{mark} {outcome.scenario.check:<11} {outcome.queue:<30} {verdict} "
              f"({outcome.seconds:.1f} s): {outcome.detail}", flush=True)

    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    outcomes = storage_selftest.run(out, announce)
    failed = [o for o in outcomes if not o.as_expected]
    print(f"storage selftest: {len(outcomes) - len(failed)} of {len(outcomes)} as expected")
    return EXIT_BAD if failed else EXIT_VALID


def _fail(reason: str) -> int:
    print(f"harness crashpoints: error: {reason}", file=sys.stderr)
    return EXIT_FAILED
