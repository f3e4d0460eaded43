"""A campaign: seeded stress and crash-point runs over the configurations, round after round
until a time budget is spent, hunting for the runs that break a promise.

The configurations (``cells``) cross the storage formats, fsync, the delivery modes and the
disturbances (none, kills, storage faults of each kind, tampering, kills with faults), and the
crash-point explorations (crash points and power losses, one stop and sequences of two, both
workloads). Each round runs every cell once with a new seed. A run that is not valid is kept
with its seed under ``DIR/invalid/``: a stress run's evidence and a shrunk reproducer (the
fewest items and processes with which the same seed still failed), a crash-point run's bad
points. ``harness campaign --budget 10m`` prints a table: cell, runs, bad, seconds.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checkers import check
from .disk.crashpoints import explore
from .disk.workloads import discard
from .history.format import AT_LEAST_ONCE, AT_MOST_ONCE
from .interrupt import StopRequest
from .reporting.evidence import rerun_command, save_run
from .stress.config import StressConfig
from .stress.run import run_stress

#: The disturbances of the stress cells: name, and the settings it changes.
DISTURBANCES: dict[str, dict[str, Any]] = {
    "calm": {},
    "kills": {"kill_every_ms": 20.0},
    "short-write": {"faults": ("short-write",), "fault_rate": 0.02},
    "eio": {"faults": ("eio",), "fault_rate": 0.01},
    "enospc": {"faults": ("enospc",), "fault_rate": 0.01},
    "tamper": {"tamper": ("sync", "claims", "lines", "head", "snapshot"),
               "tamper_every": 0.01},
    "kills+faults": {"kill_every_ms": 40.0, "faults": ("short-write", "eio"),
                     "fault_rate": 0.01},
}
#: How long a stress run may take before it counts as failed.
RUN_TIMEOUT = 120.0
#: How many times a smaller configuration is tried before shrinking gives up on it.
SHRINK_TRIES = 3


@dataclass(frozen=True)
class Cell:
    """One configuration: a stress run, or a crash-point exploration."""

    name: str
    stress: StressConfig | None = None
    crashpoints: dict[str, Any] | None = None


@dataclass
class Tally:
    """A cell's runs so far."""

    runs: int = 0
    bad: int = 0
    seconds: float = 0.0
    found: list[str] = field(default_factory=list)


def cells(items: int = 1500) -> list[Cell]:
    """Every configuration of the campaign."""
    found = []
    for fmt in ("journal", "json-array"):
        for fsync in (False, True):
            for delivery in (AT_MOST_ONCE, AT_LEAST_ONCE):
                for name, change in DISTURBANCES.items():
                    config = StressConfig(
                        producers=4, consumers=4, readers=1, items=items,
                        backend=f"filequeue-{fmt}", fsync=fsync, delivery=delivery,
                        timeout=RUN_TIMEOUT, **change)
                    label = (f"stress {fmt}{' fsync' if fsync else ''} {delivery} {name}")
                    found.append(Cell(label, stress=config))
    for fmt in ("journal", "json-array"):
        for workload in ("put-get", "claims"):
            for power, depth, stride in ((False, 1, 3), (True, 1, 5), (False, 2, 40),
                                         (True, 2, 150)):
                what = "power loss" if power else "crash"
                found.append(Cell(
                    f"crashpoints {fmt} fsync {workload} {what} depth {depth}",
                    crashpoints={"workload": workload, "format": fmt, "fsync": True,
                                 "power_loss": power, "depth": depth, "stride": stride}))
    return found


def parse_budget(text: str) -> float:
    """``"90s"``, ``"10m"``, ``"2h"`` (or plain seconds) as seconds; ``ValueError`` else."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not found or float(found.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration such as 90s, 10m or 2h")
    return float(found.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[found.group(2)]


def campaign(out: Path, budget: float, seed: int, chosen: list[Cell],
             say: Callable[[str], None], stop: StopRequest | None = None) -> dict[str, Tally]:
    """Run ``chosen`` round after round, seeds from ``seed`` on, until ``budget`` seconds are
    spent (a round is cut short there) or a stop is asked; every cell's tally."""
    tallies = {cell.name: Tally() for cell in chosen}
    deadline = time.monotonic() + budget
    for number, cell in _rounds(chosen):
        if time.monotonic() >= deadline or (stop is not None and stop.requested):
            break
        run_seed = seed + number
        started = time.monotonic()
        found = _run_cell(cell, out, run_seed, stop)
        tally = tallies[cell.name]
        tally.runs += 1
        tally.seconds += time.monotonic() - started
        if found:
            tally.bad += 1
            tally.found.append(found)
            say(f"BAD {cell.name}, seed {run_seed}: {found}")
    return tallies


def _rounds(chosen: list[Cell]) -> Iterator[tuple[int, Cell]]:
    number = 0
    while True:
        for cell in chosen:
            yield number, cell
            number += 1


def _run_cell(cell: Cell, out: Path, seed: int, stop: StopRequest | None) -> str | None:
    """Run ``cell`` once with ``seed``; what broke (and where it is kept), or None."""
    if cell.stress is not None:
        return _stress_once(cell, out, seed, stop)
    work = out / "work" / f"crashpoints-{seed}"
    work.mkdir(parents=True, exist_ok=True)
    result = explore(**cell.crashpoints, offset=seed, root=work)  # each round other points
    if not result.bad:
        discard(work)
        return None
    kept = _kept(out, cell, seed)
    (kept / "bad-points.json").write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    shutil.move(str(work), str(kept / "files"))
    first = result.bad[0]
    return f"{len(result.bad)} bad points, first: {first.where}: {first.problems[0]} ({kept})"


def _stress_once(cell: Cell, out: Path, seed: int, stop: StopRequest | None) -> str | None:
    config = dataclasses.replace(cell.stress, seed=seed)
    work = out / "work" / f"stress-{seed}"
    run = run_stress(config, work, stop=stop)
    verdict = check(run.history)
    if verdict.valid is not False and run.failure is None:
        discard(work)
        return None
    kept = _kept(out, cell, seed)
    save_run(run, kept)
    discard(work)
    smallest = shrink(config, out / "work" / f"shrink-{seed}", stop)
    (kept / "reproduce.txt").write_text(
        f"{rerun_command(config)}\n# the smallest that still failed:\n"
        f"{rerun_command(smallest)}\n")
    why = verdict.first_violation.message if verdict.first_violation else run.failure
    return f"{why} ({kept}; smallest: {smallest.producers}+{smallest.consumers} processes, " \
           f"{smallest.items} items)"


def shrink(config: StressConfig, work: Path, stop: StopRequest | None) -> StressConfig:
    """The smallest configuration, by items then processes, that still failed with the same
    seed within ``SHRINK_TRIES`` tries each (a failing run is not always repeated: the
    processes' interleaving differs)."""
    current = config
    for field_name in ("items", "producers", "consumers"):
        while getattr(current, field_name) > 1:
            smaller = dataclasses.replace(current, **{
                field_name: max(1, getattr(current, field_name) // 2)})
            if not _still_fails(smaller, work, stop):
                break
            current = smaller
    discard(work)
    return current


def _still_fails(config: StressConfig, work: Path, stop: StopRequest | None) -> bool:
    for attempt in range(SHRINK_TRIES):
        if stop is not None and stop.requested:
            return False
        run = run_stress(config, work / f"{config.items}-{config.producers}-"
                         f"{config.consumers}-{attempt}", stop=stop)
        if check(run.history).valid is False:
            return True
    return False


def _kept(out: Path, cell: Cell, seed: int) -> Path:
    kept = out / "invalid" / f"{re.sub(r'[^a-z0-9+-]+', '-', cell.name)}-seed-{seed}"
    kept.mkdir(parents=True, exist_ok=True)
    return kept


def render_table(tallies: dict[str, Tally]) -> str:
    """The table a campaign prints: one row per cell."""
    width = max(len(name) for name in tallies)
    lines = [f"{'configuration':{width}}  runs  bad  seconds"]
    for name, tally in tallies.items():
        lines.append(f"{name:{width}}  {tally.runs:4d}  {tally.bad:3d}  {tally.seconds:7.1f}")
    total = sum(t.runs for t in tallies.values())
    bad = sum(t.bad for t in tallies.values())
    lines.append(f"{'all':{width}}  {total:4d}  {bad:3d}  "
                 f"{sum(t.seconds for t in tallies.values()):7.1f}")
    return "\n".join(lines)
