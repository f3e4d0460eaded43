"""A finished run's evidence: its history checked, and ``history.jsonl``, ``report.json`` and
``timeline.html`` written whole into its folder; the command line that runs it again."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..checkers import CheckReport, check
from ..flags import to_argv
from ..history.files import encode_lines
from ..stress.config import StressConfig
from ..stress.run import StressRun
from . import report as reporting
from . import timeline
from .console import replace_file


def save_run(run: StressRun, out: Path) -> tuple[CheckReport, dict[str, Any]]:
    """Check ``run``'s history and write its three files into ``out``; the checkers' report
    and the content of ``report.json``."""
    replace_file(out / "history.jsonl", "".join(encode_lines(run.history)))
    result = check(run.history)
    data = reporting.build(result, run.history, run)
    data["run"]["kill_log"] = run.kill_log
    data["partial"] = run.partial
    data["partial_reason"] = run.failure
    data["seed"] = run.config.seed
    data["rerun"] = rerun_command(run.config, (run.placement or {}).get("flags", []))
    replace_file(out / "report.json", json.dumps(data, indent=2) + "\n")
    timeline.write(out / "timeline.html", run.history, result, f"stress on {run.config.backend}",
                   partial=run.failure if run.partial else None)
    return result, data


def rerun_command(config: StressConfig, placement_flags: Sequence[str] = ()) -> str:
    """The command line that runs ``config`` again, every setting spelled out with its seed
    (and in the containers that ``placement_flags`` choose)."""
    return shlex.join(["python", "-m", "harness", "stress", *to_argv(config),
                       *placement_flags])
