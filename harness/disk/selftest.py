"""The storage checks prove they can see: each storage mutant is caught by the check that
targets its defect (``crashpoints`` or ``faults``), and the reference queues, the real
``FileQueue`` among them, pass that check.

A reference passes a ``crashpoints`` check when no crash point (fsync off) and no power-loss
state (fsync on) is bad, and a ``faults`` check when no seeded fault run is bad; the queues
with ``FileQueue``'s claim API (``CLAIMS``) run the claims workload too. ``python -m harness
crashpoints --selftest`` runs it alone, every call explored; ``harness selftest`` runs it after
the stress mutants, with a stride.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..interrupt import StopRequest
from .crashpoints import explore
from .faults import check_under_faults
from .mutants import QUEUES
from .workloads import scratch_directory

#: Seeds a fault check tries before the mutant counts as missed.
FAULT_SEEDS = 10


@dataclass(frozen=True)
class StorageScenario:
    """A storage defect, the mutant that has it, and the check that must catch it."""

    mutant: str
    defect: str
    check: str  # "crashpoints" or "faults"
    faults: tuple[str, ...] = ()


SCENARIOS = (
    StorageScenario("mutant-ignores-short-writes", "put ignores os.write's count", "faults",
                    ("short-write",)),
    StorageScenario("mutant-head-before-compaction", "get moves the head before its "
                    "compaction succeeded", "faults", ("enospc", "eio")),
    StorageScenario("mutant-trusts-unreadable-head", "a torn head is taken for a new queue's",
                    "crashpoints"),
)
#: The queues that must pass every scenario's check.
REFERENCES = ("mini-journal", "filequeue")
#: The queues that have ``FileQueue``'s claim API: checked with the claims workload as well.
CLAIMS = frozenset({"filequeue"})


@dataclass
class StorageOutcome:
    """How one queue fared in one scenario's check."""

    scenario: StorageScenario
    queue: str
    caught: bool
    detail: str
    seconds: float

    @property
    def as_expected(self) -> bool:
        return self.caught == self.queue.startswith("mutant")


def run_check(scenario: StorageScenario, queue: str, root: Path, stride: int = 1,
              ) -> tuple[bool, str]:
    """(whether the check found a defect in ``queue``, what it found or how much it tried);
    ``stride`` as in ``crashpoints.explore``."""
    opener = QUEUES[queue]
    workloads = ("put-get", "claims") if queue in CLAIMS else ("put-get",)
    if scenario.check == "crashpoints":
        crash_points = power_states = 0
        for workload in workloads:
            for power_loss in (False, True):
                result = explore(workload, opener=opener, root=root, stride=stride,
                                 fsync=power_loss, power_loss=power_loss)
                if result.bad:
                    return True, f"{result.label}: {len(result.bad)} bad of {result.points} " \
                                 f"points; first: {result.bad[0].where}: " \
                                 f"{result.bad[0].problems[0]}"
                if power_loss:
                    power_states += result.points
                else:
                    crash_points += result.points
        return False, (f"{crash_points} crash points and {power_states} power-loss states "
                       f"({', '.join(workloads)}), none bad")
    for workload in workloads:
        for seed in range(FAULT_SEEDS):
            check = check_under_faults(opener, root, kinds=scenario.faults, rate=0.05,
                                       seed=seed, workload=workload)
            if check.problems:
                return True, f"{workload}, seed {seed}: {check.problems[0]}"
    return False, f"{FAULT_SEEDS} seeded fault runs of {', '.join(workloads)}, no problem"


def run(root: Path | None = None,
        announce: Callable[[StorageOutcome], None] | None = None,
        stride: int = 1, stop: StopRequest | None = None) -> list[StorageOutcome]:
    """Every scenario against its mutant and against every reference queue; a stop request
    ends it after the current check."""
    base = root or Path(tempfile.mkdtemp(prefix="storage-selftest-", dir=scratch_directory()))
    outcomes = []
    for scenario in SCENARIOS:
        for queue in (scenario.mutant, *REFERENCES):
            if stop is not None and stop.requested:
                return outcomes
            started = time.monotonic()
            caught, detail = run_check(scenario, queue, base, stride)
            outcome = StorageOutcome(scenario, queue, caught, detail,
                                     time.monotonic() - started)
            outcomes.append(outcome)
            if announce is not None:
                announce(outcome)
    return outcomes
