"""The storage checks prove they can see: each storage mutant is caught by the check that
targets its defect (``crashpoints`` or ``faults``), and the reference queues pass that check.

``python -m harness crashpoints --selftest`` runs it. It is kept apart from ``harness selftest``
(the stress mutants) until ``queue_core``'s fixes of issue 10 are in: today the real journal
fails the fault check (it ignores short writes) and the power-loss check, so it cannot be one
of the queues that must pass; ``REFERENCES`` then gains ``filequeue``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .crashpoints import explore, scratch_directory
from .faults import check_under_faults
from .storage_mutants import QUEUES

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
REFERENCES = ("mini-journal",)


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
    if scenario.check == "crashpoints":
        result = explore("put-get", opener=opener, root=root, stride=stride)
        if result.bad:
            return True, f"{len(result.bad)} bad of {result.points} points; first: " \
                         f"{result.bad[0].where}: {result.bad[0].problems[0]}"
        return False, f"{result.points} crash points, none bad"
    for seed in range(FAULT_SEEDS):
        check = check_under_faults(opener, root, kinds=scenario.faults, rate=0.05, seed=seed)
        if check.problems:
            return True, f"seed {seed}: {check.problems[0]}"
    return False, f"{FAULT_SEEDS} seeded fault runs, no problem"


def run(root: Path | None = None,
        announce: Callable[[StorageOutcome], None] | None = None,
        stride: int = 1) -> list[StorageOutcome]:
    """Every scenario against its mutant and against every reference queue."""
    base = root or Path(tempfile.mkdtemp(prefix="storage-selftest-", dir=scratch_directory()))
    outcomes = []
    for scenario in SCENARIOS:
        for queue in (scenario.mutant, *REFERENCES):
            started = time.monotonic()
            caught, detail = run_check(scenario, queue, base, stride)
            outcome = StorageOutcome(scenario, queue, caught, detail,
                                     time.monotonic() - started)
            outcomes.append(outcome)
            if announce is not None:
                announce(outcome)
    return outcomes
