"""``harness check``: check a saved history (ours or another tool's) and print the report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..checkers import check
from ..errors import HistoryError, UsageError
from ..history.files import (
    first_unknown_operation,
    line_of,
    parse_op_names,
    read_history,
    rename_operations,
)
from ..reporting import report as reporting
from ..reporting import timeline
from ..reporting.console import exit_code, print_report, replace_file
from ..reporting.console import usable_directory as usable


def add_parser(commands: Any) -> None:
    """Register ``check``."""
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
    check.add_argument("--op-names", default="", metavar="OURS=THEIRS,...",
                       help="read another tool's operation names as ours, e.g. "
                       "put=enqueue,get=dequeue (ours: put, get, size, open, killed, drained, "
                       "claim, ack, nack, extend, dead)")
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """The ``check`` command; its exit code."""
    try:
        names = parse_op_names(args.op_names)
        history = read_history(args.history)
    except HistoryError as error:
        raise UsageError(str(error)) from error
    if not history:
        raise UsageError(f"{args.history} holds no operations")
    rename_operations(history, names)
    unknown = first_unknown_operation(history)
    if unknown is not None:
        raise UsageError(
            f"{args.history}:{line_of(args.history, unknown)}: unknown operation "
            f"{history[unknown]['op']!r}; map another tool's names to ours with --op-names "
            "(e.g. --op-names put=enqueue,get=dequeue)")
    out = None if args.out is None else usable(args.out, "--out")
    result = check(history)
    data = reporting.build(result, history)
    if out is not None:
        replace_file(out / "report.json", json.dumps(data, indent=2) + "\n")
        timeline.write(out / "timeline.html", history, result, f"check of {args.history}")
    print_report(data, args.json, reporting.render_text)
    return exit_code(result.valid)
