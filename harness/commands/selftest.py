"""``harness selftest``: the harness proves it can see: every mutant caught, the real queue
passing the same loads (the stress mutants, then the storage mutants)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..interrupt import StopRequest
from ..reporting.console import EXIT_VALID, EXIT_VIOLATION, console
from ..reporting.console import usable_directory as usable
from ..stress.selftest import selftest, storage


def add_parser(commands: Any) -> None:
    """Register ``selftest``."""
    selftest = commands.add_parser(
        "selftest", help="prove the harness catches every known-bad queue and passes the real one",
        description="Stress each deliberately broken queue (harness/backends/mutants.py) with "
        "the load that exposes its defect until a violation is found (at most 30 s each), and "
        "the real FileQueue with the same loads; then each storage mutant "
        "(harness/disk/mutants.py) against crash points, power loss or faults, and the real "
        "queue against the same checks (every second file-changing call; crashpoints --selftest "
        "explores every one). Fails unless every mutant is caught and the real queue passes "
        "every run.",
    )
    selftest.add_argument("--seed", type=int, default=0, metavar="K", help="base seed (default 0)")
    selftest.add_argument("--out", type=Path, default=None, metavar="DIR",
                          help="keep the runs' queues here (default: a temporary directory, "
                          "removed at the end unless --keep)")
    selftest.add_argument("--keep", action="store_true",
                          help="keep the temporary directory of the runs")
    selftest.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """The ``selftest`` command; its exit code."""
    def announce(outcome: Any) -> None:
        verdict = {True: "passed", False: "caught", None: "unknown"}[outcome.valid]
        mark = "ok  " if outcome.as_expected else "FAIL"
        console.say(f"{mark} {outcome.scenario.name:17} {outcome.backend:21} {verdict:7} after "
                    f"{outcome.runs} run(s), {outcome.seconds:5.1f} s"
                    + (f": {outcome.first_violation}" if outcome.valid is False else ""))

    def announce_storage(outcome: Any) -> None:
        mark = "ok  " if outcome.as_expected else "FAIL"
        verdict = "caught" if outcome.caught else "passed"
        console.say(f"{mark} {outcome.scenario.check:17} {outcome.queue:21} {verdict:7} in "
                    f"{outcome.seconds:5.1f} s: {outcome.detail}")

    root = usable(args.out, "--out") if args.out is not None else Path(
        tempfile.mkdtemp(prefix="harness-selftest-"))
    stop = StopRequest().install()
    try:
        outcomes: list[Any] = selftest(root, args.seed, announce, stop=stop)
        if not stop.requested:
            storage_root = root / "storage"
            storage_root.mkdir(exist_ok=True)
            outcomes += storage(storage_root, announce_storage, stop=stop)
    finally:
        stop.restore()
        if args.out is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    failed = [o for o in outcomes if not o.as_expected]
    if stop.requested:
        console.say(f"selftest: {stop.reason} after {len(outcomes)} runs")
        return EXIT_VIOLATION if failed else stop.exit_code
    console.say(f"selftest: {len(outcomes) - len(failed)} of {len(outcomes)} as expected; "
                + ("every mutant caught, the real queue passed" if not failed else "FAILED"))
    return EXIT_VALID if not failed else EXIT_VIOLATION
