"""What the kind test and the container test both assert about a running Pod."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from k8s.render import PodOptions
from queue_core.contracts import TASK_COMPLETED, TASK_PUT

TASKS = 30
TIME_SCALE = 0.01
#: Print every result file of the shared volume as one JSON list (runs inside a container).
DUMP_RESULTS = (
    "import glob, json\n"
    "out = []\n"
    "for p in sorted(glob.glob('/shared-results/result_*.json')):\n"
    "    with open(p) as f: out.append(json.load(f))\n"
    "print(json.dumps(out))\n"
)


def test_pod_options(image: str, namespace: str | None = None) -> PodOptions:
    """The Pod as the e2e tests deploy it: fast, bounded, reporting JSON, never restarted."""
    return PodOptions(image=image, time_scale=TIME_SCALE, monitor_json=True, max_tasks=TASKS,
                      restart_policy="Never", namespace=namespace, image_pull_policy="Never")


test_pod_options.__test__ = False  # a helper, not a test


def reports_until_done(lines: Iterable[str], tasks: int, deadline: float) -> list[dict[str, Any]]:
    """The monitor's JSON reports, read as they come, until one counts ``tasks`` completed."""
    reports = []
    for line in lines:
        if line.startswith("{"):
            report = json.loads(line)
            reports.append(report)
            if report["completed"] >= tasks:
                return reports
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"the monitor never reported {tasks} completed tasks; last reports: "
                         f"{reports[-3:]}")


def produced_ids(producer_log: str) -> list[str]:
    """The ids of the tasks the producer says it put."""
    return TASK_PUT.find_all(producer_log, "id")


def completions(consumer_logs: Iterable[str]) -> Counter[str]:
    """How often each task id was completed, across the consumers' logs."""
    return Counter(i for log in consumer_logs for i in TASK_COMPLETED.find_all(log, "id"))


def assert_one_result_per_task(produced: list[str], results: list[dict[str, Any]],
                               completed: Counter[str], consumers: set[str]) -> None:
    """Every produced task has exactly one result, written by one of ``consumers``, all used."""
    assert len(produced) == TASKS
    by_id = Counter(str(r["task_id"]) for r in results)
    assert set(by_id) == set(produced), "results and produced tasks differ"
    assert all(n == 1 for n in by_id.values())
    assert all(completed[i] == 1 for i in produced), "a task was processed twice"
    workers = {r["processed_by"] for r in results}
    assert workers == consumers, f"results came from {workers}, expected {consumers}"
    assert all(r["status"] == "completed" for r in results)


def assert_reports_grow_and_match(reports: list[dict[str, Any]],
                                  results: list[dict[str, Any]]) -> None:
    """The monitor's completed count only grows, and its last report matches the files."""
    counts = [r["completed"] for r in reports]
    assert counts == sorted(counts), f"completed went down: {counts}"
    assert len(set(counts)) >= 2, f"completed never grew: {counts}"
    last = reports[-1]
    assert last["completed"] == len(results)
    assert last["unreadable"] == 0
    assert last["by_worker"] == dict(Counter(r["processed_by"] for r in results))
