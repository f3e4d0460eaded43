"""The consumer's delivery modes: a task of a killed consumer is done again, leases are renewed
during long work, and results written twice leave one file."""

import json
import random
import signal
import subprocess
import sys
import time

import pytest

from queue_core import FileQueue
from queue_core.consumer import consume
from queue_core.lifecycle import Lifecycle
from queue_core.results import write_result

TASK = {"id": 1, "type": "backup_data"}


def _start_consumer(queue_file, results, *options):
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "queue_core.consumer", "--queue-file", str(queue_file),
         "--results-dir", str(results), "--worker-id", "first",
         "--work-times", "backup_data=3600:3600", *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    for line in process.stdout:
        if "processing task id=1" in line:
            return process
    raise AssertionError(f"the consumer never took the task (exit {process.wait()})")


@pytest.mark.timeout(60)
def test_a_task_of_a_killed_consumer_is_done_by_another_once_its_lease_ends(tmp_path):
    queue_file, results = tmp_path / "q" / "tasks.json", tmp_path / "results"
    FileQueue(queue_file).put(TASK)
    first = _start_consumer(queue_file, results, "--lease", "30")
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert FileQueue(queue_file).claim() is None, "the lease still hides the task"

    later = FileQueue(queue_file, clock=lambda: time.time() + 31)
    done = consume(later, Lifecycle(), random.Random(), results_dir=results, worker="second",
                   work_times={"backup_data": (0, 0)}, max_tasks=1)
    assert done == 1
    [result] = results.iterdir()
    assert json.loads(result.read_text())["processed_by"] == "second"
    assert later.stats() == (0, 0, 0, 0, None)


@pytest.mark.timeout(60)
def test_at_most_once_takes_tasks_with_get_and_a_killed_consumer_loses_its_task(tmp_path):
    queue_file, results = tmp_path / "q" / "tasks.json", tmp_path / "results"
    FileQueue(queue_file).put(TASK)
    first = _start_consumer(queue_file, results, "--delivery", "at-most-once")
    first.send_signal(signal.SIGKILL)
    first.wait()
    later = FileQueue(queue_file, clock=lambda: time.time() + 3600)
    assert later.stats().waiting == later.stats().in_flight == 0
    assert later.get() is None


class CountingQueue(FileQueue):
    extends = 0

    def extend(self, claim, lease):
        self.extends += 1
        return super().extend(claim, lease)


def test_the_lease_is_renewed_during_long_work_and_the_task_acked_once(tmp_path):
    queue = CountingQueue(tmp_path / "q" / "tasks.json")
    queue.put(TASK)
    done = consume(queue, Lifecycle(), random.Random(), results_dir=tmp_path / "results",
                   worker="w", work_times={"backup_data": (0.2, 0.2)}, max_tasks=1, lease=0.06)
    assert done == 1
    assert queue.extends >= 5  # the work spans more than three leases
    stats = queue.stats()
    assert (stats.waiting, stats.in_flight, stats.dead) == (0, 0, 0)


def test_a_consumer_whose_lease_ended_and_was_taken_abandons_the_task(tmp_path, caplog):
    queue_file = tmp_path / "q" / "tasks.json"
    now = [1000.0]
    queue = FileQueue(queue_file, clock=lambda: now[0])
    queue.put(TASK)
    other = FileQueue(queue_file, clock=lambda: now[0])
    taken = []

    class PausedLife(Lifecycle):
        """The first work step outlives the lease and another consumer claims the task."""

        def sleep(self, seconds):
            if not taken:
                now[0] += 10
                taken.append(other.claim(lease=1000))
                return True
            self.stop("test over")
            return False

    done = consume(queue, PausedLife(), random.Random(), results_dir=tmp_path / "results",
                   worker="w", work_times={"backup_data": (3, 3)}, lease=3.0)
    assert done == 0
    assert not (tmp_path / "results" / "result_1.json").exists()
    assert "abandoned task 1" in caplog.text
    other.ack(taken[0])  # the other consumer's claim is intact


def test_writing_the_same_tasks_result_twice_leaves_one_correct_file(tmp_path):
    first = {"task_id": 7, "type": "t", "processing_time": 1.0, "processed_by": "a"}
    second = {**first, "processed_by": "b"}
    write_result(tmp_path, first)
    write_result(tmp_path, second)
    [path] = tmp_path.iterdir()
    assert json.loads(path.read_text()) == second
