"""Result files: one ``result_<id>.json`` per completed task, written whole or not at all."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_atomic
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
    """Read every result file, keeping every task id; a file that is unreadable or malformed is
    counted, never raised. A full recount: reports use ``ResultsTally``."""
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


#: Integer task ids below this are remembered as one bit each (up to 8 MiB); others by name.
_BITMAP_IDS = 1 << 26
#: A directory whose modification time is older than this (ns) before the last scan cannot
#: have changed unseen since: a newer one may hide an entry added in the same clock tick.
_MTIME_SETTLED_NS = 1_000_000_000


class ResultsTally:
    """Running totals of a results directory: each ``update`` reads only the result files that
    it has not read before, so a report costs what changed since the last one.

    What was read is remembered compactly: one bit per integer task id (the producer's ids),
    a set of names for other ids; nothing else per file. A file rewritten under the same name
    (a redelivered task's result) is counted once, with what it held when first read. Files
    that were unreadable are read again at every update until they can be read. A removed file
    stays counted. The listing is skipped while the directory has not changed.
    """

    def __init__(self, results_dir: Path) -> None:
        self.results_dir = Path(results_dir)
        self.summary = ResultsSummary()
        self._read_ids = bytearray()
        self._read_names: set[str] = set()
        self._unreadable: set[str] = set()
        self._listed = (-1, 0)  # (directory mtime, time of that listing), in ns

    def update(self) -> ResultsSummary:
        """Read what is new; the totals so far (``task_ids`` stays empty)."""
        for name in list(self._unreadable):
            self._retry(name)
        try:
            mtime = os.stat(self.results_dir).st_mtime_ns
        except FileNotFoundError:
            return self.summary
        seen_mtime, listed_at = self._listed
        if mtime == seen_mtime and listed_at - mtime > _MTIME_SETTLED_NS:
            return self.summary
        started = time.time_ns()
        try:
            with os.scandir(self.results_dir) as entries:
                for entry in entries:
                    name = entry.name
                    if (name.startswith(RESULT_PREFIX) and name.endswith(RESULT_SUFFIX)
                            and not self._was_read(name) and name not in self._unreadable):
                        self._read(name)
        except FileNotFoundError:
            return self.summary
        self._listed = (mtime, started)
        return self.summary

    def _read(self, name: str) -> None:
        result = _read_result(self.results_dir / name)
        if result is None:
            self._unreadable.add(name)
            self.summary.unreadable += 1
            return
        self._count(name, result)

    def _retry(self, name: str) -> None:
        path = self.results_dir / name
        result = _read_result(path)
        if result is None and path.exists():
            return
        self._unreadable.discard(name)
        self.summary.unreadable -= 1
        if result is not None:
            self._count(name, result)

    def _count(self, name: str, result: dict[str, Any]) -> None:
        self._remember(name)
        summary = self.summary
        summary.completed += 1
        summary.total_processing_time += result["processing_time"]
        summary.by_type[result["type"]] += 1
        summary.by_worker[result["processed_by"]] += 1

    def _was_read(self, name: str) -> bool:
        number = _bitmap_id(name)
        if number is None:
            return name in self._read_names
        byte = number >> 3
        return byte < len(self._read_ids) and bool(self._read_ids[byte] & (1 << (number & 7)))

    def _remember(self, name: str) -> None:
        number = _bitmap_id(name)
        if number is None:
            self._read_names.add(name)
            return
        byte = number >> 3
        if byte >= len(self._read_ids):
            self._read_ids.extend(bytes(max(byte + 1 - len(self._read_ids),
                                            len(self._read_ids))))
        self._read_ids[byte] |= 1 << (number & 7)


def _bitmap_id(name: str) -> int | None:
    """The task id of ``result_<id>.json`` when it is a plain integer kept in the bitmap."""
    text = name[len(RESULT_PREFIX):-len(RESULT_SUFFIX)]
    if not text.isdigit() or not text.isascii() or (text[0] == "0" and len(text) > 1):
        return None
    number = int(text)
    return number if number < _BITMAP_IDS else None
