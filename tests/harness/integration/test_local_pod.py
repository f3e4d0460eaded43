"""The whole Pod as local processes: one result per task, an honest monitor, clean SIGTERM exits."""

import json
import signal
import subprocess
import sys
import time

import pytest

from harness.localpod import LocalPod, verify_pod
from queue_core.roles.results import summarize_results

TASKS = 30


@pytest.fixture
def pod(tmp_path):
    pod = LocalPod(tmp_path, consumers=2, time_scale=0.01,
                   producer_env={"MAX_TASKS": str(TASKS)})
    pod.start()
    yield pod
    pod.stop()


@pytest.mark.timeout(120)
def test_every_produced_task_has_exactly_one_result_and_sigterm_ends_each_role(pod):
    assert pod.wait_until(lambda: len(pod.produced) == TASKS and pod.all_produced_completed(), 60)
    pod.roles["producer"].process.wait(10)
    assert pod.wait_until(lambda: any(r["completed"] == TASKS for r in pod.reports), 30)

    once = subprocess.run(
        [sys.executable, "-m", "queue_core.roles.monitor", "--once", "--json"],
        env=pod.role_environment("monitor"), capture_output=True, text=True, check=True,
    )
    report = json.loads(once.stdout.splitlines()[-1])
    summary = summarize_results(pod.results_dir)
    assert report["completed"] == summary.completed == TASKS
    assert report["by_worker"] == dict(summary.by_worker)
    assert set(report["by_worker"]) == {"consumer-1", "consumer-2"}
    assert report["unreadable"] == 0
    assert report["queue_size"] == 0

    codes = {}
    for name in ("consumer-1", "consumer-2", "monitor", "producer"):
        codes.update(pod.stop([name], timeout=2.0))
        assert pod.roles[name].stopped_in is None or pod.roles[name].stopped_in < 2.0
    verdict = verify_pod(pod, codes)
    assert verdict.valid, verdict.describe()
    assert verdict.produced == verdict.results == TASKS


@pytest.mark.timeout(60)
@pytest.mark.parametrize("role", ["producer", "consumer", "monitor"])
def test_sigterm_in_the_middle_of_a_long_sleep_exits_0_within_2_seconds(tmp_path, role):
    queue_file = tmp_path / "tasks.json"
    if role == "consumer":
        from queue_core import FileQueue

        FileQueue(queue_file).put({"id": 1, "type": "backup_data"})
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", f"queue_core.roles.{role}", "--queue-file", str(queue_file),
         *([] if role == "producer" else ["--results-dir", str(tmp_path / "results")])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    started = process.stdout.readline()
    assert " started" in started, started
    if role == "consumer":
        assert "processing task id=1" in process.stdout.readline()
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=5)
    elapsed = time.monotonic() - began
    rest = process.stdout.read()
    assert code == 0, rest
    assert elapsed < 2.0
    assert "received SIGTERM" in rest
    if role == "consumer":
        from queue_core import FileQueue

        assert "gave it back at its place" in rest
        assert FileQueue(queue_file).get() == {"id": 1, "type": "backup_data"}
