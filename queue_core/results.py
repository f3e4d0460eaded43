"""Result files: one ``result_<id>.json`` per completed task, written whole or not at all."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_atomic
from .tasks import result_file_name

RESULT_PREFIX = "result_"
RESULT_SUFFIX = ".json"


def write_result(results_dir: Path, result: dict[str, Any], *, fsync: bool = False) -> Path:
    """Write ``result`` as its task's result file, atomically; writing it again replaces it."""
    path = Path(results_dir) / result_file_name(result["task_id"])
    write_atomic(path, json.dumps(result, indent=2).encode(), fsync=fsync)
    return path


def result_files(results_dir: Path) -> list[Path]:
    """The result files in ``results_dir`` (none if it does not exist), by name."""
    try:
        with os.scandir(results_dir) as entries:
            names = [
                e.name for e in entries
                if e.name.startswith(RESULT_PREFIX) and e.name.endswith(RESULT_SUFFIX)
            ]
    except FileNotFoundError:
        return []
    return [Path(results_dir) / name for name in sorted(names)]


@dataclass
class ResultsSummary:
    """What the result files of a directory say, and how many could not be read."""

    completed: int = 0
    unreadable: int = 0
    total_processing_time: float = 0.0
    by_type: Counter[str] = field(default_factory=Counter)
    by_worker: Counter[str] = field(default_factory=Counter)
    task_ids: list[Any] = field(default_factory=list)

    @property
    def average_processing_time(self) -> float | None:
        return self.total_processing_time / self.completed if self.completed else None


def summarize_results(results_dir: Path) -> ResultsSummary:
    """Read every result file; a file that is unreadable or malformed is counted, never raised."""
    summary = ResultsSummary()
    for path in result_files(results_dir):
        result = _read_result(path)
        if result is None:
            summary.unreadable += 1
            continue
        summary.completed += 1
        summary.total_processing_time += result["processing_time"]
        summary.by_type[result["type"]] += 1
        summary.by_worker[result["processed_by"]] += 1
        summary.task_ids.append(result["task_id"])
    return summary


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        result = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(result, dict):
        return None
    valid = (
        "task_id" in result
        and isinstance(result.get("type"), str)
        and isinstance(result.get("processed_by"), str)
        and isinstance(result.get("processing_time"), int | float)
        and not isinstance(result.get("processing_time"), bool)
    )
    return result if valid else None
