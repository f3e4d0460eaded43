"""The ``queue_stress`` fixture: a real ``harness stress`` run on anyone's queue, from their own
test suite. Installed with the package (entry point ``pytest11``)::

    def test_my_queue_survives_kills(queue_stress):
        result = queue_stress("mypkg.queues:open_queue", producers=4, consumers=4,
                              items=5_000, kill_every_ms=50)
        assert result.valid, result.explain()

``--queue-stress-scale F`` multiplies every run's items (0.1 in quick runs, 10 at night).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .checkers import CheckReport, Violation
from .reporting.evidence import save_run
from .stress.config import StressConfig
from .stress.run import run_stress


@dataclass
class StressResult:
    """What a stress run found: the verdict, the counts, the first violation, the files."""

    valid: bool | None
    counts: dict[str, int]
    first_violation: Violation | None
    out: Path
    rerun: str
    failure: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def report_path(self) -> Path:
        return self.out / "report.json"

    @property
    def timeline_path(self) -> Path:
        return self.out / "timeline.html"

    def explain(self) -> str:
        """The first violation with its operations, and where to look further."""
        if self.valid:
            return f"valid: {self.counts}"
        lines = [f"verdict: {'INVALID' if self.valid is False else 'UNKNOWN'}"]
        if self.failure:
            lines.append(f"the run failed: {self.failure}")
        if self.first_violation is not None:
            lines.append(f"first violation: {self.first_violation.message}")
            lines += [f"  operation {i}: {self.history[i]}" for i in self.first_violation.ops[:6]
                      if i < len(self.history)]
        lines.append(f"counts: {self.counts}")
        lines.append(f"timeline: {self.timeline_path}")
        lines.append(f"rerun: {self.rerun}")
        return "\n".join(lines)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("queue-stress", "stress runs of queues (filequeue-harness)")
    group.addoption("--queue-stress-scale", type=float, default=1.0, metavar="F",
                    help="multiply the items of every queue_stress run by F (default 1)")


@pytest.fixture
def queue_stress(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., StressResult]:
    """Run ``harness stress`` on a backend (a built-in name, ``module:factory`` or an entry
    point) with ``StressConfig``'s keywords; a ``StressResult``."""
    scale: float = request.config.getoption("queue_stress_scale")
    runs = itertools.count(1)

    def stress(backend: str, **options: Any) -> StressResult:
        options["items"] = max(1, round(options.get("items", StressConfig.items) * scale))
        config = StressConfig(backend=backend, **options)
        out = tmp_path / f"stress-{next(runs)}"
        out.mkdir()
        run = run_stress(config, out / "work", keep_history_in=out / "history.jsonl")
        report: CheckReport
        report, data = save_run(run, out)
        valid = report.valid if run.failure is None else (False if report.valid is False
                                                            else None)
        return StressResult(valid, report.counts, report.first_violation, out, data["rerun"],
                            run.failure, run.history)

    return stress
