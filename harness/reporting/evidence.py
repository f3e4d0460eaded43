"""A finished run's evidence: its history checked, and ``history.jsonl``, ``report.json`` and
``timeline.html`` written whole into its folder; the command line that runs it again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..checkers import CheckReport, check
from ..history.files import encode_lines
from ..history.format import AT_LEAST_ONCE
from ..stress.run import StressConfig, StressRun
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
    timeline.write(out / "timeline.html", run.history, result, f"stress on {run.config.backend}")
    return result, data


def rerun_command(config: StressConfig, placement_flags: Sequence[str] = ()) -> str:
    """The command line that runs ``config`` again, with its seed (and in the containers that
    ``placement_flags`` choose)."""
    parts = ["python -m harness stress", f"--producers {config.producers}",
             f"--consumers {config.consumers}", f"--readers {config.readers}",
             f"--items {config.items}", f"--backend {config.backend}",
             f"--delivery {config.delivery}"]
    if config.delivery == AT_LEAST_ONCE:
        parts.append(f"--lease {config.lease:g}")
    block_ms = None if config.block is None else config.block * 1000
    work_ms = config.work * 1000 or None
    for flag, value in (("--rate", config.rate), ("--block", block_ms), ("--work", work_ms),
                        ("--duration", config.duration),
                        ("--kill-every", config.kill_every_ms)):
        if value is not None:
            parts.append(f"{flag} {value:g}")
    parts += [flag for flag, on in (("--fsync", config.fsync), ("--precreate", config.precreate))
              if on]
    if config.faults:
        parts.append(f"--faults {','.join(config.faults)} --fault-rate {config.fault_rate:g}")
    parts += [*placement_flags, f"--timeout {config.timeout:g}", f"--seed {config.seed}"]
    return " ".join(parts)
