"""The consumer's delivery modes: a task of a killed consumer is done again, leases are renewed
during long work, and results written twice leave one file."""

import argparse
import json
import logging
import random
import signal
import subprocess
import sys
import time

import pytest

from queue_core import FileQueue
from queue_core.roles import consumer as consumer_module
from queue_core.roles.consumer import _answer, _result, consume, delivery_mode
from queue_core.roles.lifecycle import Lifecycle
from queue_core.roles.results import write_result

TASK = {"id": 1, "type": "backup_data"}


def _start_consumer(queue_file, results, *options):
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "queue_core.roles.consumer", "--queue-file", str(queue_file),
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
    caplog.set_level(logging.INFO)
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
    assert [m for m in messages(caplog) if m[0] == "WARNING"] == [
        ("WARNING", "abandoned task 1: cannot extend claim 1.1: it ended (lease over at "
         "1003.000000, or given back) and the item was delivered again (delivery 2)")]
    assert messages(caplog)[-1] == ("INFO", "queue empty, waiting for tasks"), "it goes on"
    other.ack(taken[0])  # the other consumer's claim is intact


def test_writing_the_same_tasks_result_twice_leaves_one_correct_file(tmp_path):
    first = {"task_id": 7, "type": "t", "processing_time": 1.0, "processed_by": "a"}
    second = {**first, "processed_by": "b"}
    write_result(tmp_path, first)
    write_result(tmp_path, second)
    [path] = tmp_path.iterdir()
    assert json.loads(path.read_text()) == second


class ScriptedLife(Lifecycle):
    """Records every sleep; each returns the next of ``wakes`` (then False: a stop)."""

    def __init__(self, *wakes):
        super().__init__()
        self.slept = []
        self.wakes = list(wakes)

    def sleep(self, seconds):
        self.slept.append(seconds)
        if self.wakes and self.wakes.pop(0):
            return True
        self.stop("test over")
        return False


def messages(caplog):
    return [(r.levelname, r.getMessage()) for r in caplog.records
            if r.name == "queue_core.roles.consumer"]


def test_the_consumer_logs_each_task_redelivery_and_malformed_task(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    queue = FileQueue(tmp_path / "q" / "tasks.json")
    queue.put({"id": 1, "type": "a"})
    queue.put(["x" * 600])
    queue.put({"id": 2, "type": "b"})
    queue.nack(queue.claim())  # task 1 comes again: its second delivery
    life = ScriptedLife(True, True)
    done = consume(queue, life, random.Random(), results_dir=tmp_path / "r", worker="w",
                   work_times={"a": (2, 2), "b": (4, 4)}, time_scale=0.5, lease=30,
                   wait=False)
    assert done == 2
    assert life.slept == [1.0, 2.0, 1.5]  # the work of 1 and 2, then an idle 3 s x 0.5
    assert messages(caplog) == [
        ("INFO", "processing task id=1 type=a (attempt 2)"),
        ("INFO", "completed task id=1"),
        ("ERROR", "discarded malformed task " + json.dumps(["x" * 600])[:500]
         + ": expected a JSON object, got list"),
        ("INFO", "processing task id=2 type=b"),
        ("INFO", "completed task id=2"),
        ("INFO", "queue empty, waiting for tasks"),
    ]
    assert queue.stats()[:4] == (0, 0, 0, 0), "the malformed task was acked, not left"
    result = json.loads((tmp_path / "r" / "result_2.json").read_text())
    assert (result["task_id"], result["type"], result["status"], result["processed_by"]) == (
        2, "b", "completed", "w")
    assert "T" in result["completed_at"]


def test_an_idle_consumer_says_so_once_and_sleeps_its_idle_time(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    queue = FileQueue(tmp_path / "q" / "tasks.json")
    life = ScriptedLife(True, True)
    assert consume(queue, life, random.Random(), results_dir=tmp_path / "r", worker="w",
                   idle_sleep=2.0, time_scale=0.25, delivery="at-most-once", wait=False) == 0
    assert life.slept == [0.5, 0.5, 0.5]
    assert messages(caplog) == [("INFO", "queue empty, waiting for tasks")]
    assert (tmp_path / "r").is_dir()


def test_work_is_slept_in_thirds_of_the_lease_with_a_renewal_between(tmp_path):
    queue = CountingQueue(tmp_path / "q" / "tasks.json")
    queue.put({"id": 1, "type": "a"})
    life = ScriptedLife(True, True, True)
    assert consume(queue, life, random.Random(), results_dir=tmp_path / "r", worker="w",
                   work_times={"a": (5, 5)}, max_tasks=1, lease=6) == 1
    assert life.slept == [2.0, 2.0, 1.0]
    assert queue.extends == 2


@pytest.mark.parametrize(("delivery", "warning"), [
    ("at-least-once", "stopped during task id=1; gave it back at its place"),
    ("at-most-once", "stopped during task id=1; put it back on the queue"),
])
def test_a_stop_during_work_gives_the_task_back_and_says_so(tmp_path, caplog, delivery,
                                                            warning):
    caplog.set_level(logging.INFO)
    queue = FileQueue(tmp_path / "q" / "tasks.json")
    queue.put({"id": 1, "type": "a"})
    queue.put({"id": 2, "type": "a"})
    assert consume(queue, ScriptedLife(), random.Random(), results_dir=tmp_path / "r",
                   worker="w", work_times={"a": (1, 1)}, delivery=delivery) == 0
    assert messages(caplog)[-1] == ("WARNING", warning)
    first = [queue.get(), queue.get()]
    expected = [1, 2] if delivery == "at-least-once" else [2, 1]
    assert [t["id"] for t in first] == expected


def test_a_claim_that_ended_is_settled_with_a_warning(tmp_path, caplog):
    queue = FileQueue(tmp_path / "q" / "tasks.json")
    queue.put({"id": 1, "type": "a"})
    claim = queue.claim()
    queue.ack(claim)
    assert _answer(queue.ack, claim) is False
    assert messages(caplog) == [("WARNING", "cannot acknowledge claim 1.1: its item is no "
                                 "longer in the queue (acknowledged already, or taken by get)")]
    queue.put({"id": 2, "type": "a"})
    assert _answer(queue.ack, queue.claim()) is True


def test_a_result_records_the_processing_time_to_the_microsecond():
    result = _result({"id": 3, "type": "t", "data": "x"}, "w", 1.23456789)
    assert {k: v for k, v in result.items() if k != "completed_at"} == {
        "task_id": 3, "type": "t", "status": "completed", "processing_time": 1.234568,
        "processed_by": "w"}
    assert set(result) == {"task_id", "type", "status", "processing_time", "processed_by",
                           "completed_at"}


def test_a_bad_delivery_mode_names_the_choices():
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        delivery_mode("exactly-once")
    assert str(caught.value) == ("'exactly-once' is not a delivery mode; choose "
                                 "at-least-once or at-most-once")


def test_results_go_to_a_new_nested_directory_with_the_measured_time(tmp_path, monkeypatch):
    queue = FileQueue(tmp_path / "q" / "tasks.json")
    queue.put({"id": 1, "type": "a"})
    ticks = iter([100.0, 102.5])
    monkeypatch.setattr(consumer_module.time, "monotonic", lambda: next(ticks))
    assert consume(queue, ScriptedLife(True), random.Random(), results_dir=tmp_path / "x" / "y",
                   worker="w", work_times={"a": (0, 0)}, max_tasks=1) == 1
    result = json.loads((tmp_path / "x" / "y" / "result_1.json").read_text())
    assert result["processing_time"] == 2.5


def test_consume_claims_for_30_seconds_and_syncs_nothing_by_default(tmp_path, monkeypatch):
    import os

    from queue_core.ledger import Ledger

    synced = []
    monkeypatch.setattr(os, "fsync", synced.append)
    queue = FileQueue(tmp_path / "q" / "tasks.json", clock=lambda: 1000.0)
    queue.put({"id": 1, "type": "a"})
    assert consume(queue, ScriptedLife(True), random.Random(), results_dir=tmp_path / "r",
                   worker="w", work_times={"a": (0, 0)}, max_tasks=1) == 1
    take = json.loads(Ledger(queue.path).path.read_text().splitlines()[1])
    assert take["until"] == 1030.0
    assert synced == []
