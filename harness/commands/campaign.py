"""``harness campaign``: seeded stress and crash-point runs over the configurations until a
time budget is spent; every failing run kept with its seed and a shrunk reproducer."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from queue_core.roles.settings import positive_int

from ..campaign import campaign, cells, parse_budget, render_table
from ..errors import UsageError
from ..interrupt import StopRequest
from ..reporting.console import EXIT_VALID, EXIT_VIOLATION, console
from ..reporting.console import usable_directory as usable


def add_parser(commands: Any) -> None:
    """Register ``campaign``."""
    parser = commands.add_parser(
        "campaign", help="hunt for failing runs over every configuration, within a budget",
        description="Round after round, run every configuration once with a new seed: stress "
        "runs over the formats, fsync, the delivery modes and the disturbances (kills, each "
        "storage fault, tampering), and crash-point explorations (one stop and sequences of "
        "two; crashes and power losses). Keep every failing run under DIR/invalid/ with its "
        "seed and a shrunk reproducer, and print a table of configurations, runs and failures. "
        "Exit 0 when nothing failed, 1 otherwise.")
    parser.add_argument("--budget", default="10m", metavar="TIME",
                        help="how long to hunt: 90s, 10m, 2h (default %(default)s)")
    parser.add_argument("--only", default="", metavar="TEXT",
                        help="only the configurations whose name holds TEXT (e.g. 'fsync')")
    parser.add_argument("--items", type=positive_int, default=1500, metavar="N",
                        help="items per stress run (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, metavar="K",
                        help="the first run's seed; each run takes the next (default 0)")
    parser.add_argument("--out", type=Path, default=Path("campaign"), metavar="DIR",
                        help="where failing runs are kept (default ./campaign)")
    parser.add_argument("--json", action="store_true", help="print the tallies as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """The ``campaign`` command; its exit code."""
    try:
        budget = parse_budget(args.budget)
    except ValueError as error:
        raise UsageError(f"--budget: {error}") from error
    chosen = [cell for cell in cells(args.items) if args.only in cell.name]
    if not chosen:
        raise UsageError(f"--only {args.only!r}: no configuration has that in its name")
    out = usable(args.out, "--out")
    if not args.json:
        console.say(f"campaign: {len(chosen)} configurations, {args.budget}, seeds from "
                    f"{args.seed}, failing runs kept in {out / 'invalid'}")
    stop = StopRequest().install()
    try:
        tallies = campaign(out, budget, args.seed, chosen, console.say, stop)
    finally:
        stop.restore()
    ran = {name: tally for name, tally in tallies.items() if tally.runs}
    if args.json:
        console.say(json.dumps({name: vars(tally) for name, tally in ran.items()}, indent=2))
    elif ran:
        console.say(render_table(ran))
    bad = any(tally.bad for tally in tallies.values())
    if stop.requested:
        return EXIT_VIOLATION if bad else stop.exit_code
    return EXIT_VIOLATION if bad else EXIT_VALID
