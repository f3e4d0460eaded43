"""The monitor at scale: a first report over many result files, then a report after 100 new
ones, and the resident memory of a monitor process that made both (issue 14 targets: below
32 MiB throughout, under 100 ms for the 100 new, under 30 s for the first report)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from queue_core import FileQueue
from queue_core.roles.monitor import QueueProbe, build_report
from queue_core.roles.results import ResultsTally, write_result

from .conftest import record

#: Result files before the first report (1,000,000 in the issue; the env var lowers it).
FILES = int(os.environ.get("MONITOR_BENCH_FILES", "1000000"))
NEW = 100


def _result(task_id: int) -> dict:
    return {"task_id": task_id, "type": "send_email", "status": "completed",
            "processing_time": 1.5, "processed_by": f"consumer-{task_id % 8}",
            "completed_at": "2026-01-01T00:00:00"}


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("results")
    for task_id in range(1, FILES + 1):  # plain writes: building the set-up is not measured
        (directory / f"result_{task_id}.json").write_text(json.dumps(_result(task_id)))
    return directory


def test_first_report_over_every_result_file(benchmark, results_dir, tmp_path):
    probe = QueueProbe(tmp_path / "no-queue" / "tasks.json", "journal")
    benchmark.group = "monitor"
    report = benchmark.pedantic(lambda: build_report(probe, ResultsTally(results_dir)),
                                rounds=1, iterations=1)
    assert report["completed"] >= FILES
    record(benchmark, FILES, backend="monitor first report", family="monitor")


def test_report_after_100_new_results(benchmark, results_dir, tmp_path):
    probe = QueueProbe(tmp_path / "no-queue" / "tasks.json", "journal")
    tally = ResultsTally(results_dir)
    tally.update()
    next_id = [FILES + 10_000_000]

    def add_new():
        for _ in range(NEW):
            next_id[0] += 1
            write_result(results_dir, _result(next_id[0]))
        return (), {}

    benchmark.group = "monitor"
    benchmark.pedantic(lambda: build_report(probe, tally), setup=add_new, rounds=5,
                       iterations=1)
    record(benchmark, NEW, backend="monitor report after 100 new", family="monitor")


#: Runs the monitor with its arguments and writes its peak resident memory (``VmHWM``, which
#: counts this program only: the rusage of a child would count the pages it shared with the
#: large test process before ``exec``) to the file named first.
PEAK_OF_MONITOR = """
import atexit, runpy, sys
out = sys.argv.pop(1)
def peak():
    status = open("/proc/self/status").read()
    open(out, "w").write(status.split("VmHWM:")[1].split()[0])
atexit.register(peak)
runpy.run_module("queue_core.roles.monitor", run_name="__main__", alter_sys=True)
"""


def test_monitor_resident_memory(benchmark, results_dir, tmp_path):
    """The peak resident memory of the real monitor (``python -m queue_core.roles.monitor --once``,
    a process of its own as in the Pod) making its first report over every result file."""
    queue_file = tmp_path / "tasks.json"
    FileQueue(queue_file).close()
    peak_file = tmp_path / "peak-kib"

    def measure():
        done = subprocess.run(
            [sys.executable, "-c", PEAK_OF_MONITOR, str(peak_file), "--once", "--queue-file",
             str(queue_file), "--results-dir", str(results_dir)],
            capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return int(peak_file.read_text()) * 1024

    benchmark.group = "monitor"
    peak = benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(peak_rss_bytes=peak, backend="monitor peak RSS",
                                family="monitor", files=FILES)
