"""The harness proves it can see: each mutant must be caught, and the real queue must pass."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..checkers import check
from ..disk import selftest as storage_selftest
from ..history.format import AT_LEAST_ONCE
from ..interrupt import StopRequest
from .config import StressConfig
from .run import run_stress

#: Seconds of stress each mutant gets before it counts as missed.
BUDGET = 30.0
#: The storage checks explore every second file-changing call here (the selftest runs in the
#: default test suite); ``crashpoints --selftest`` explores every one.
STORAGE_STRIDE = 2


@dataclass(frozen=True)
class Scenario:
    """A defect of the original, the mutant that has it, and the stress that exposes it."""

    name: str
    defect: str
    mutant: str
    config: StressConfig


SCENARIOS = (
    Scenario("no-lock", "no lock at all", "mutant-no-lock",
             StressConfig(producers=4, consumers=4, items=2000, readers=0)),
    Scenario("replaced-lock", "lock taken on the data file, which rename replaces (defect 10)",
             "mutant-replaced-lock",
             StressConfig(producers=4, consumers=4, items=2000, readers=0, precreate=True)),
    Scenario("unlocked-size", "in-place rewrite read by an unlocked size() (defect 2)",
             "mutant-original",
             StressConfig(producers=2, consumers=2, items=2000, readers=2, precreate=True)),
    Scenario("in-place-sigkill", "in-place rewrite killed mid-write (defect 3)",
             "mutant-original",
             StressConfig(producers=4, consumers=1, items=4000, readers=0, precreate=True,
                          kill_every_ms=10)),
    Scenario("racy-create", "non-exclusive creation by processes starting together (defect 1)",
             "mutant-racy-create",
             StressConfig(producers=8, consumers=8, items=32, readers=0)),
    Scenario("swapped-order", "a get that sometimes returns the second item (order bug)",
             "mutant-swapped-order", StressConfig(producers=4, consumers=4, items=2000, readers=0)),
    Scenario("reset-claims", "opening the queue frees every claimed item, as persist-queue's "
             "ack queue does", "mutant-reset-claims",
             StressConfig(producers=2, consumers=4, items=2000, readers=0,
                          delivery=AT_LEAST_ONCE, lease=5.0, kill_every_ms=50)),
)


@dataclass
class Outcome:
    """How one scenario went: caught or passed, after how many runs and seconds, and why."""

    scenario: Scenario
    backend: str
    valid: bool | None
    runs: int
    seconds: float
    first_violation: str | None

    @property
    def as_expected(self) -> bool:
        return self.valid is False if self.backend.startswith("mutant") else self.valid is True


def run_scenario(scenario: Scenario, backend: str, workdir: Path, *, until_caught: bool,
                 seed: int = 0, budget: float = BUDGET, runs_wanted: int = 1,
                 stop: StopRequest | None = None) -> Outcome:
    """Stress ``backend`` with the scenario's load: until a violation or the budget is spent
    (``until_caught``), or ``runs_wanted`` times unless a violation comes first (or a stop)."""
    started = time.monotonic()
    runs = 0
    while True:
        runs += 1
        config = replace(scenario.config, backend=backend, seed=seed + runs, timeout=budget)
        run = run_stress(config, workdir / f"{scenario.name}-{backend}-{runs}", stop=stop)
        report = check(run.history)
        valid = report.valid if run.failure is None else None
        elapsed = time.monotonic() - started
        first = report.first_violation.message if report.first_violation else run.failure
        finished = elapsed >= budget if until_caught else runs >= runs_wanted
        if valid is not True or finished or (stop is not None and stop.requested):
            return Outcome(scenario, backend, valid, runs, elapsed, first)


def selftest(workdir: Path | None = None, seed: int = 0,
             announce: Callable[[Outcome], None] | None = None,
             stop: StopRequest | None = None) -> list[Outcome]:
    """Every scenario against its mutant until caught, then against the real queue for as
    many runs as the mutant needed; a stop request ends it after the current run (the
    interrupted run's outcome is not counted)."""
    root = workdir or Path(tempfile.mkdtemp(prefix="harness-selftest-"))
    outcomes = []
    for scenario in SCENARIOS:
        for backend in (scenario.mutant, "filequeue"):
            outcome = run_scenario(scenario, backend, root, until_caught=backend != "filequeue",
                                   seed=seed, runs_wanted=outcomes[-1].runs if outcomes else 1,
                                   stop=stop)
            if stop is not None and stop.requested:
                return outcomes
            outcomes.append(outcome)
            if announce is not None:
                announce(outcome)
    return outcomes


def storage(workdir: Path, announce: Callable[[storage_selftest.StorageOutcome], None] | None
            = None, stop: StopRequest | None = None) -> list[storage_selftest.StorageOutcome]:
    """The storage mutants against crash points, power loss and faults, and the reference
    queues (the real one included) against the same checks (``storage_selftest``)."""
    return storage_selftest.run(workdir, announce, stride=STORAGE_STRIDE, stop=stop)
