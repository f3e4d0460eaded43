"""The producer, consumer and monitor loops, in-process."""

import json
import logging
import random
import signal
import threading
from typing import ClassVar

import pytest

from queue_core import (
    CorruptQueueError,
    FileQueue,
    QueueNotFoundError,
    QueueStats,
)
from queue_core.ledger import Ledger
from queue_core.roles import consumer, lifecycle, monitor, producer
from queue_core.roles.consumer import consume
from queue_core.roles.lifecycle import Lifecycle
from queue_core.roles.monitor import QueueProbe, build_report
from queue_core.roles.producer import produce
from queue_core.roles.results import summarize_results, write_result
from queue_core.roles.sequence import IdSequence
from queue_core.roles.tasks import TASK_TYPES, make_task, task_problem, work_seconds

FAST = {"d": (0.0, 0.0)}


def test_produced_tasks_look_like_the_originals(queue, tmp_path):
    ids = IdSequence(tmp_path / "ids")
    count = produce(queue, ids, Lifecycle(), random.Random(1),
                    interval=(0, 0), time_scale=1.0, max_tasks=5)
    tasks = [queue.get() for _ in range(count)]
    assert [t["id"] for t in tasks] == [1, 2, 3, 4, 5]
    for task in tasks:
        assert task_problem(task) is None
        assert task["type"] in TASK_TYPES
        assert task["data"] == f"task_data_{task['id']}"
        assert 1 <= task["priority"] <= 5
        assert "T" in task["timestamp"]


def test_task_ids_continue_after_a_producer_restart(queue, tmp_path):
    for _ in range(2):
        produce(queue, IdSequence(tmp_path / "ids"), Lifecycle(), random.Random(),
                interval=(0, 0), time_scale=1.0, max_tasks=3)
    assert [queue.get()["id"] for _ in range(6)] == [1, 2, 3, 4, 5, 6]


def test_the_consumer_writes_one_result_per_task_named_after_the_worker(queue, tmp_path):
    for n in (1, 2, 3):
        queue.put({"id": n, "type": "send_email"})
    tmp_path = tmp_path / "results"
    done = consume(queue, Lifecycle(), random.Random(), results_dir=tmp_path,
                   worker="consumer-7", work_times=FAST, other_work_time=(0, 0), max_tasks=3)
    assert done == 3
    for n in (1, 2, 3):
        result = json.loads((tmp_path / f"result_{n}.json").read_text())
        assert result["task_id"] == n
        assert result["processed_by"] == "consumer-7"
        assert result["status"] == "completed"
        assert result["processing_time"] >= 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_the_consumer_skips_malformed_tasks_and_goes_on(queue, tmp_path, capsys):
    from queue_core.roles.lifecycle import configure_logging

    configure_logging("consumer")
    queue.put("not a task")
    queue.put({"id": "../../etc/passwd", "type": "x"})
    queue.put({"id": 9, "type": "send_email"})
    results = tmp_path / "results"
    done = consume(queue, Lifecycle(), random.Random(), results_dir=results, worker="w",
                   work_times=FAST, other_work_time=(0, 0), max_tasks=1)
    assert done == 1
    assert [p.name for p in results.iterdir()] == ["result_9.json"]
    logged = capsys.readouterr().out
    assert "discarded malformed task \"not a task\"" in logged
    assert "cannot be used in a file name" in logged


def test_a_stop_during_work_puts_the_task_back_and_writes_no_result(queue, tmp_path):
    queue.put({"id": 1, "type": "backup_data"})
    life = Lifecycle()
    stopper = threading.Timer(0.05, life.stop, args=("received SIGTERM",))
    stopper.start()
    results = tmp_path / "results"
    results.mkdir()
    done = consume(queue, life, random.Random(), results_dir=results, worker="w",
                   work_times={"backup_data": (3600, 3600)})
    stopper.join()
    assert done == 0
    assert queue.get() == {"id": 1, "type": "backup_data"}
    assert list(results.iterdir()) == []


def test_the_monitor_counts_unreadable_results_without_crashing(queue, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    write_result(results, {"task_id": 1, "type": "send_email", "processing_time": 2.0,
                           "processed_by": "consumer-1"})
    write_result(results, {"task_id": 2, "type": "backup_data", "processing_time": 4.0,
                           "processed_by": "consumer-2"})
    (results / "result_3.json").write_text('{"task_id": 3, "type": "send')
    (results / "result_4.json").write_text('["not", "a", "result"]')
    (results / "result_5.json").write_text('{"task_id": 5}')
    (results / ".result_6.json.tmp-x").write_text("ignored")
    queue.put("waiting")
    report = build_report(QueueProbe(queue.path, queue.format), results)
    assert report["queue_size"] == 1
    assert report["completed"] == 2
    assert report["unreadable"] == 3
    assert report["average_processing_time"] == 3.0
    assert report["by_type"] == {"backup_data": 1, "send_email": 1}
    assert report["by_worker"] == {"consumer-1": 1, "consumer-2": 1}


def test_the_monitor_reports_a_corrupt_queue_instead_of_dying(tmp_path):
    queue_file = tmp_path / "tasks.json"
    queue_file.write_text("{oops")
    report = build_report(QueueProbe(queue_file, "json-array"), tmp_path / "none")
    assert report["queue_size"] is None
    assert "corrupt" in report["queue_error"]
    assert "queue error" in monitor.format_report(report)


def test_monitor_once_json_prints_one_report_line(tmp_path, capsys, role_process):
    results = tmp_path / "results"
    results.mkdir()
    write_result(results, {"task_id": 1, "type": "send_email", "processing_time": 1.5,
                           "processed_by": "c"})
    FileQueue(tmp_path / "q.json")
    code = monitor.main(["--once", "--json", "--queue-file", str(tmp_path / "q.json"),
                         "--results-dir", str(results)], environ={})
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert (report["completed"], report["queue_size"], report["unreadable"]) == (1, 0, 0)


def test_summaries_of_a_missing_directory_are_empty(tmp_path):
    summary = summarize_results(tmp_path / "absent")
    assert (summary.completed, summary.unreadable, summary.average_processing_time) == (0, 0, None)


def test_every_role_ends_with_exit_code_1_and_one_line_when_a_file_is_unusable(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    queue_file = str(tmp_path / "q" / "tasks.json")
    (tmp_path / "q").mkdir()
    code = producer.main(["--queue-file", queue_file, "--id-file", str(tmp_path),
                          "--max-tasks", "1", "--interval", "0:0"], environ={})
    out = capsys.readouterr().out
    assert code == 1
    assert "Traceback" not in out and str(tmp_path) in out
    code = consumer.main(["--queue-file", queue_file, "--results-dir", str(blocker / "r"),
                          "--max-tasks", "1"], environ={})
    assert code == 1
    assert "Traceback" not in capsys.readouterr().out


@pytest.fixture
def role_process():
    """A role's main() installs signal handlers and logging: put the test process's back."""
    signals = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    handlers, level = logging.root.handlers[:], logging.root.level
    logging.root.setLevel(logging.WARNING)  # Python's default: the role must ask for INFO
    yield
    for number, handler in signals.items():
        signal.signal(number, handler)
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)


def logged(capsys):
    """The log lines printed since the last call, without their time stamps."""
    return [line.split(" ", 2)[2] for line in capsys.readouterr().out.splitlines()
            if line[:2] == "20"]


def test_the_roles_run_from_their_command_lines(tmp_path, capsys, role_process):
    queue_file, results = tmp_path / "q" / "tasks.json", tmp_path / "results"
    common = ["--queue-file", str(queue_file), "--seed", "3"]
    assert producer.main([*common, "--max-tasks", "4", "--interval", "0:0"], environ={}) == 0
    lines = logged(capsys)
    assert lines[0] == f"INFO producer: started: queue {queue_file}, ids from {queue_file}.ids"
    assert lines[-1] == "INFO producer: stopped (max tasks) after producing 4 tasks"
    assert len(lines) == 6
    assert (tmp_path / "q" / "tasks.json.ids").read_text() == "4\n"
    tasks = [json.loads(line.split(" ", 2)[2])  # journal lines: number, put time, item
             for line in queue_file.read_text().splitlines()[1:]]
    assert [t["id"] for t in tasks] == [1, 2, 3, 4]
    assert [line.split(": ", 1)[1] for line in lines[1:5]] == [
        f"put task id={t['id']} type={t['type']} priority={t['priority']}" for t in tasks]

    no_work = ",".join(f"{kind}=0:0" for kind in TASK_TYPES)
    argv = [*common, "--results-dir", str(results), "--max-tasks", "4", "--work-times",
            no_work, "--worker-id", "w1", "--idle-sleep", "0"]
    assert consumer.main(argv, environ={}) == 0
    lines = logged(capsys)
    assert lines[0] == (f"INFO consumer: started as w1: queue {queue_file}, results in "
                        f"{results}, at-least-once delivery")
    assert lines[1:-1] == [line for t in tasks for line in (
        f"INFO consumer: processing task id={t['id']} type={t['type']}",
        f"INFO consumer: completed task id={t['id']}")]
    assert lines[-1] == "INFO consumer: stopped (max tasks) after completing 4 tasks"
    written = [json.loads((results / f"result_{t['id']}.json").read_text()) for t in tasks]
    assert [(r["task_id"], r["type"], r["status"], r["processed_by"]) for r in written] == [
        (t["id"], t["type"], "completed", "w1") for t in tasks]

    assert monitor.main([*common[:2], "--results-dir", str(results), "--once", "--json"],
                        environ={}) == 0
    report = json.loads(capsys.readouterr().out)
    kinds = sorted({t["type"] for t in tasks})
    assert {k: v for k, v in report.items() if k not in ("time", "average_processing_time")} == {
        "queue_size": 0, "in_flight": 0, "delayed": 0, "dead": 0, "oldest_waiting_age": None,
        "queue_error": None, "completed": 4, "unreadable": 0,
        "by_type": {k: sum(t["type"] == k for t in tasks) for k in kinds}, "by_worker": {"w1": 4}}


def test_the_roles_take_their_settings_from_the_environment(tmp_path, capsys, role_process):
    queue_file = tmp_path / "q" / "tasks.json"
    environ = {"QUEUE_FILE": str(queue_file), "MAX_TASKS": "2", "PRODUCER_INTERVAL": "0:0",
               "QUEUE_FORMAT": "json-array", "ID_FILE": str(tmp_path / "ids")}
    assert producer.main([], environ=environ) == 0
    assert len(json.loads(queue_file.read_text())) == 2
    assert (tmp_path / "ids").read_text() == "2\n"
    capsys.readouterr()
    assert monitor.main(["--once"], environ={**environ, "RESULTS_DIR": str(tmp_path / "r")}) == 0
    assert capsys.readouterr().out.startswith("report: queue=2 | in_flight=0 | delayed=0 | dead=0")


def test_the_roles_exit_1_on_a_queue_they_cannot_use(tmp_path, capsys, role_process):
    queue_file = tmp_path / "tasks.json"
    queue_file.write_text("not a queue")
    args = ["--queue-file", str(queue_file), "--max-tasks", "1"]
    assert producer.main(args, environ={}) == 1
    assert consumer.main([*args, "--results-dir", str(tmp_path / "r")], environ={}) == 1
    lines = logged(capsys)
    assert len(lines) == 2
    assert all(line.startswith(("ERROR producer: queue file", "ERROR consumer: queue file"))
               and "is corrupt" in line for line in lines)


REPORT = {"time": "t", "queue_size": 3, "in_flight": 2, "delayed": 1, "dead": 4,
          "oldest_waiting_age": 12.345, "queue_error": None, "completed": 7, "unreadable": 1,
          "average_processing_time": 0.12349, "by_type": {"a": 2, "b": 5},
          "by_worker": {"w1": 6, "w2": 1}}


def test_a_report_line_shows_every_figure():
    assert monitor.format_report(REPORT) == (
        "queue=3 | in_flight=2 | delayed=1 | dead=4 | oldest_waiting=12.3s | completed=7 | "
        "unreadable=1 | avg_processing=0.123s | types: a=2 b=5 | workers: w1=6 w2=1")
    empty = {**REPORT, "oldest_waiting_age": None, "average_processing_time": None,
             "by_type": {}, "by_worker": {}, "queue_error": "broken"}
    assert monitor.format_report(empty) == (
        "queue=unknown | completed=7 | unreadable=1 | avg_processing=n/a | types: none | "
        "workers: none | queue error: broken")
    assert monitor.format_report({**empty, "queue_error": None}).startswith(
        "queue=3 | in_flight=2 | delayed=1 | dead=4 | oldest_waiting=n/a | ")


def test_a_report_rounds_the_age_and_the_average(queue_path, tmp_path, monkeypatch):
    results = tmp_path / "results"
    results.mkdir()
    for n, seconds in enumerate((1.0, 1.0, 2.0), 1):
        write_result(results, {"task_id": n, "type": "t", "processing_time": seconds / 3,
                               "processed_by": "w"})
    stats = QueueStats(1, 2, 3, 4, 10.123456)
    probe = QueueProbe(queue_path, "journal", max_attempts=3)
    monkeypatch.setattr(QueueProbe, "stats", lambda self: (stats, None))
    report = build_report(probe, results)
    assert {k: report[k] for k in ("queue_size", "in_flight", "delayed", "dead",
                                   "oldest_waiting_age", "average_processing_time")} == {
        "queue_size": 1, "in_flight": 2, "delayed": 3, "dead": 4,
        "oldest_waiting_age": 10.123, "average_processing_time": 0.444444}


def test_the_probe_opens_the_queue_with_its_format_and_attempts(queue_path):
    q = FileQueue(queue_path, format="json-array")  # the monitor only reads: it must exist
    probe = QueueProbe(queue_path, "json-array", max_attempts=1)
    assert probe.stats() == (QueueStats(0, 0, 0, 0, None), None)
    q.put("a")
    q.nack(q.claim())  # one delivery: with max_attempts=1 it is spent
    assert probe.stats() == (QueueStats(0, 0, 0, 1, None), None)
    default = QueueProbe(queue_path, "json-array")
    assert default.stats()[0].waiting == 1
    for _ in range(4):
        q.nack(q.claim())
    assert default.stats()[0][:4] == (0, 0, 0, 1), "5 deliveries by default"


def test_the_monitor_reports_at_its_interval_until_its_duration_ends(tmp_path, capsys,
                                                                    role_process):
    FileQueue(tmp_path / "q" / "tasks.json").close()  # the monitor only reads: it must exist
    argv = ["--queue-file", str(tmp_path / "q" / "tasks.json"), "--results-dir",
            str(tmp_path / "r"), "--initial-delay", "0", "--interval", "0.01",
            "--duration", "0.2"]
    assert monitor.main(argv, environ={}) == 0
    lines = capsys.readouterr().out.splitlines()
    reports = [line for line in lines if line.startswith("report: ")]
    logs = [line.split(" ", 2)[2] for line in lines if not line.startswith("report: ")]
    assert logs == [f"INFO monitor: started: queue {tmp_path / 'q' / 'tasks.json'}, results in "
                    f"{tmp_path / 'r'}", "INFO monitor: stopped (duration reached)"]
    assert reports
    assert all(r.startswith("report: queue=0 | in_flight=0 | ") for r in reports)


@pytest.mark.parametrize(("task", "problem"), [
    (["a"], "expected a JSON object, got list"),
    ({"type": "t"}, "its 'id' is missing or neither an integer nor a string"),
    ({"id": True, "type": "t"}, "its 'id' is missing or neither an integer nor a string"),
    ({"id": 1.5, "type": "t"}, "its 'id' is missing or neither an integer nor a string"),
    ({"id": "../x", "type": "t"}, "its id '../x' cannot be used in a file name"),
    ({"id": 7}, "its 'type' is missing or not a string"),
    ({"id": "a-1.b_2", "type": "t"}, None),
])
def test_a_task_problem_is_named(task, problem):
    assert task_problem(task) == problem


def test_priorities_span_1_to_5_and_work_times_follow_the_type():
    rng = random.Random(7)
    assert {make_task(n, rng)["priority"] for n in range(300)} == {1, 2, 3, 4, 5}
    assert work_seconds("x", rng, {"x": (2.0, 2.0)}, (9.0, 9.0)) == 2.0
    assert work_seconds("y", rng, {"x": (2.0, 2.0)}, (9.0, 9.0)) == 9.0


def test_results_are_indented_json_and_summed_per_type_and_worker(tmp_path):
    for n, kind, worker in ((1, "a", "w1"), (2, "a", "w2"), (3, "b", "w1")):
        write_result(tmp_path, {"task_id": n, "type": kind, "processing_time": 1,
                                "processed_by": worker})
    assert (tmp_path / "result_1.json").read_text() == (
        '{\n  "task_id": 1,\n  "type": "a",\n  "processing_time": 1,\n'
        '  "processed_by": "w1"\n}')
    (tmp_path / "result_x.txt").write_text("{}")
    (tmp_path / "other_4.json").write_text("{}")
    summary = summarize_results(tmp_path)
    assert (summary.completed, summary.unreadable) == (3, 0)
    assert (dict(summary.by_type), dict(summary.by_worker)) == ({"a": 2, "b": 1},
                                                                {"w1": 2, "w2": 1})
    assert sorted(summary.task_ids) == [1, 2, 3]


@pytest.mark.parametrize("result", [
    {"task_id": 1, "type": 5, "processing_time": 1, "processed_by": "w"},
    {"task_id": 1, "type": "a", "processing_time": "1", "processed_by": "w"},
    {"task_id": 1, "type": "a", "processing_time": 1, "processed_by": None},
])
def test_a_result_with_a_field_of_the_wrong_type_is_unreadable(tmp_path, result):
    write_result(tmp_path, result)
    summary = summarize_results(tmp_path)
    assert (summary.completed, summary.unreadable) == (0, 1)


def test_the_id_sequence_keeps_its_lock_beside_it_and_refuses_a_corrupt_file(tmp_path):
    ids = IdSequence(tmp_path / "ids")
    assert [ids.next(), ids.next()] == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ids", "ids.lock"]
    (tmp_path / "ids").write_text("0\n")
    assert ids.next() == 1, "0 is a valid count: nothing taken yet"
    for text, problem in (("-1\n", "expected a non-negative integer, found -1"),
                          ("many\n", "expected one integer, found 'many\\n'")):
        (tmp_path / "ids").write_text(text)
        with pytest.raises(CorruptQueueError) as caught:
            ids.next()
        assert (caught.value.path, caught.value.problem) == (tmp_path / "ids", problem)
    ids.close()


def test_the_id_sequence_syncs_only_when_asked(tmp_path, monkeypatch):
    import os

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    IdSequence(tmp_path / "plain").next()
    assert synced == []
    IdSequence(tmp_path / "durable", fsync=True).next()
    assert synced


def test_a_signal_asks_the_loop_to_stop(role_process):
    life = Lifecycle()
    life.handle_signals()
    signal.raise_signal(signal.SIGTERM)
    assert (life.stopping, life.stop_reason) == (True, "received SIGTERM")
    other = Lifecycle()
    other.handle_signals()
    signal.raise_signal(signal.SIGINT)
    assert other.stop_reason == "received SIGINT"


def test_a_sleep_that_ends_exactly_at_the_deadline_is_a_whole_sleep():
    now = [50.0]
    life = Lifecycle(duration=0.125, clock=lambda: now[0])  # exact in binary
    assert life.sleep(0.125) is True
    assert life.stop_reason is None


def test_results_are_synced_only_when_asked(tmp_path, monkeypatch):
    import os

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    result = {"task_id": 1, "type": "a", "processing_time": 1, "processed_by": "w"}
    assert write_result(tmp_path, result) == tmp_path / "result_1.json"
    assert synced == []
    write_result(tmp_path, result, fsync=True)
    assert len(synced) == 2


def test_a_sleep_past_the_deadline_does_not_wait():
    waits = []

    class Event:
        def wait(self, seconds):
            waits.append(seconds)
            return False

        def set(self):
            pass

        def is_set(self):
            return True

    now = [10.0]
    life = Lifecycle(duration=1.0, clock=lambda: now[0])
    life._stop = Event()
    now[0] = 12.0
    assert life.sleep(5) is False
    assert waits == [0.0]


class RecordingLife(Lifecycle):
    """A Lifecycle that records its duration and sleeps, and stops at its ``wakes``-th sleep."""

    made: ClassVar[list] = []

    def __init__(self, duration=None, wakes=3):
        super().__init__()
        self.duration, self.slept, self.wakes = duration, [], wakes
        RecordingLife.made.append(self)

    def sleep(self, seconds):
        self.slept.append(seconds)
        if len(self.slept) > self.wakes:
            self.stop("duration reached")
            return False
        return True


@pytest.fixture
def recording_life(monkeypatch, role_process):
    RecordingLife.made = []
    monkeypatch.setattr(lifecycle, "Lifecycle", RecordingLife)  # what run_role starts
    return RecordingLife.made


def test_the_monitor_loop_pauses_scaled_and_reports_json(tmp_path, capsys, recording_life,
                                                        monkeypatch):
    results = tmp_path / "r"
    results.mkdir()
    write_result(results, {"task_id": 1, "type": "a", "processing_time": 1, "processed_by": "w"})
    queue_file = tmp_path / "q" / "tasks.json"
    q = FileQueue(queue_file)
    q.put("a")
    q.nack(q.claim())  # with --max-attempts 1 this item is spent: dead
    flushed = []
    monkeypatch.setattr(monitor, "print", lambda line, flush: flushed.append(flush) or print(line),
                        raising=False)
    argv = ["--queue-file", str(queue_file), "--results-dir", str(results), "--json",
            "--initial-delay", "3", "--interval", "4", "--time-scale", "0.5", "--duration", "9",
            "--max-attempts", "1"]
    assert monitor.main(argv, environ={}) == 0
    [life] = recording_life
    assert (life.duration, life.slept) == (9.0, [1.5, 2.0, 2.0, 2.0])
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if line.startswith("{")]
    assert [(r["completed"], r["dead"], r["queue_size"]) for r in reports] == [(1, 1, 0)] * 3
    assert flushed == [True, True, True]


def test_the_producer_loop_sleeps_its_scaled_interval_between_tasks(tmp_path, recording_life):
    argv = ["--queue-file", str(tmp_path / "tasks.json"), "--interval", "2:2", "--time-scale",
            "0.25", "--max-tasks", "3", "--duration", "60"]
    assert producer.main(argv, environ={}) == 0
    [life] = recording_life
    assert (life.duration, life.slept) == (60.0, [0.5, 0.5])  # none after the last task
    assert FileQueue(tmp_path / "tasks.json").size() == 3


def test_a_producer_without_a_task_limit_runs_until_stopped(tmp_path, recording_life):
    argv = ["--queue-file", str(tmp_path / "tasks.json"), "--interval", "0:0"]
    assert producer.main(argv, environ={}) == 0
    assert len(recording_life[0].slept) == 4
    assert FileQueue(tmp_path / "tasks.json").size() == 4


def test_the_same_seed_makes_the_same_tasks(tmp_path, role_process):
    def tasks(name):
        path = tmp_path / name / "tasks.json"
        producer.main(["--queue-file", str(path), "--seed", "11", "--max-tasks", "6",
                       "--interval", "0:0"], environ={})
        q = FileQueue(path)
        return [(t["type"], t["priority"]) for t in iter(q.get, None)]

    assert tasks("a") == tasks("b")


def test_the_consumer_passes_every_setting_on(tmp_path, capsys, recording_life, monkeypatch):
    import socket

    queue_file, results = tmp_path / "q" / "tasks.json", tmp_path / "r"
    q = FileQueue(queue_file)
    q.put({"id": 1, "type": "other"})
    q.put({"id": 2, "type": "a"})
    monkeypatch.setenv("WORKER_ID", "not-this-one")  # main() reads only the environ it is given
    environ = {"QUEUE_FILE": str(queue_file), "RESULTS_DIR": str(results), "WORK_TIMES": "a=4:4",
               "OTHER_WORK_TIME": "2:2", "TIME_SCALE": "0.5", "LEASE": "3", "IDLE_SLEEP": "8",
               "DURATION": "30", "CONSUMER_WAIT": "0"}  # polling: the idle sleep is scaled
    assert consumer.main([], environ=environ) == 0
    [life] = recording_life
    # other: 2 s x 0.5 in one step; a: 4 s x 0.5 in steps of a third of the lease; then idle
    assert (life.duration, life.slept) == (30.0, [1.0, 1.0, 1.0, 4.0])
    names = [json.loads(p.read_text())["processed_by"] for p in sorted(results.iterdir())]
    assert names == [socket.gethostname()] * 2
    records = Ledger(queue_file).path.read_text().splitlines()
    assert sum('"op":"extend"' in r for r in records) == 1, "a's claim renewed once"


def test_an_at_most_once_consumer_never_claims(tmp_path, recording_life):
    queue_file = tmp_path / "q" / "tasks.json"
    FileQueue(queue_file).put({"id": 1, "type": "a"})
    argv = ["--queue-file", str(queue_file), "--results-dir", str(tmp_path / "r"),
            "--work-times", "a=0:0", "--delivery", "at-most-once", "--max-tasks", "1"]
    assert consumer.main(argv, environ={}) == 0
    assert not Ledger(queue_file).path.exists()
    assert recording_life[0].slept == [0.0]
    assert (tmp_path / "r" / "result_1.json").exists()
    argv[-3:] = ["at-least-once", "--max-tasks", "1"]
    FileQueue(queue_file).put({"id": 2, "type": "a"})
    assert consumer.main(argv, environ={}) == 0
    assert Ledger(queue_file).path.exists()


def test_the_roles_sync_what_they_write_with_fsync(tmp_path, recording_life, monkeypatch):
    import os

    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    queue_file, results = tmp_path / "q" / "tasks.json", tmp_path / "r"
    assert producer.main(["--queue-file", str(queue_file), "--fsync", "--max-tasks", "1"],
                         environ={}) == 0
    assert any(os.path.basename(p).startswith(".tasks.json.ids.tmp-") for p in synced)
    synced.clear()
    argv = ["--queue-file", str(queue_file), "--results-dir", str(results), "--fsync",
            "--max-tasks", "1", "--work-times", ",".join(f"{k}=0:0" for k in TASK_TYPES)]
    assert consumer.main(argv, environ={}) == 0
    assert any(os.path.basename(p).startswith(".result_1.json.tmp-") for p in synced)


@pytest.mark.parametrize("role", [producer, consumer, monitor])
def test_each_role_names_itself_and_describes_itself_in_its_help(role, capsys, role_process):
    with pytest.raises(SystemExit):
        role.main(["--help"], environ={})
    shown = " ".join(capsys.readouterr().out.split())
    assert shown.startswith(f"usage: queue-{role.__name__.rsplit('.', 1)[1]} [-h]")
    assert " ".join(role.__doc__.split()) in shown


def test_the_consumer_seed_makes_the_same_work_times(tmp_path, recording_life):
    for run in ("a", "b"):
        queue_file = tmp_path / run / "tasks.json"
        q = FileQueue(queue_file)
        for n in range(3):
            q.put({"id": n, "type": "a"})
        consumer.main(["--queue-file", str(queue_file), "--results-dir", str(tmp_path / run),
                       "--work-times", "a=0:100", "--seed", "5", "--max-tasks", "3",
                       "--lease", "1000"], environ={})
    first, second = recording_life
    assert first.slept == second.slept
    assert len(set(first.slept)) == 3


@pytest.mark.parametrize("method", ["claim", "get"])
@pytest.mark.parametrize("argv, timeouts, slept", [
    ([], [0.0] + [consumer.STOP_CHECK_SECONDS] * 3, [0.0] * 4),
    (["--no-wait", "--idle-sleep", "2", "--time-scale", "0.5"], [0.0] * 4, [1.0] * 4),
])
def test_an_idle_consumer_waits_in_the_queue_or_polls(tmp_path, recording_life, monkeypatch,
                                                     method, argv, timeouts, slept):
    """Waiting (the default): the first look does not wait, the next ones wait on the
    doorbell for STOP_CHECK_SECONDS and do not sleep; polling looks and sleeps, scaled."""
    queue_file = tmp_path / "q" / "tasks.json"
    FileQueue(queue_file).close()
    asked = []
    real = getattr(FileQueue, method)

    def recording(self, *args, timeout=0.0):
        asked.append(timeout)
        return real(self, *args, timeout=0.0)

    monkeypatch.setattr(FileQueue, method, recording)
    delivery = "at-least-once" if method == "claim" else "at-most-once"
    assert consumer.main(["--queue-file", str(queue_file), "--results-dir", str(tmp_path / "r"),
                          "--delivery", delivery, *argv], environ={}) == 0
    [life] = recording_life
    assert asked == timeouts
    assert life.slept == slept


def test_consume_waits_in_the_queue_by_default(tmp_path, monkeypatch):
    q = FileQueue(tmp_path / "q" / "tasks.json")
    asked = []
    real = FileQueue.claim

    def recording(self, *args, timeout=0.0):
        asked.append(timeout)
        return real(self, *args, timeout=0.0)

    monkeypatch.setattr(FileQueue, "claim", recording)
    life = RecordingLife(wakes=1)
    assert consume(q, life, random.Random(), results_dir=tmp_path / "r", worker="w") == 0
    assert asked == [0.0, consumer.STOP_CHECK_SECONDS]
    assert life.slept == [0.0, 0.0]


@pytest.mark.parametrize("argv, slept", [([], [0.5] * 3), (["--batch", "2"], [0.5])])
def test_the_producer_puts_one_task_per_interval_unless_batched(tmp_path, recording_life,
                                                                argv, slept):
    queue_file = tmp_path / "tasks.json"
    assert producer.main(["--queue-file", str(queue_file), "--interval", "1:1", "--time-scale",
                          "0.5", "--max-tasks", "4", *argv], environ={}) == 0
    assert recording_life[0].slept == slept
    assert [t["id"] for t in FileQueue(queue_file).get_many(10)] == [1, 2, 3, 4]


@pytest.mark.parametrize("batch", [None, 2])
def test_produce_puts_every_task_of_a_batch_and_one_by_default(tmp_path, batch):
    from queue_core.roles.producer import produce
    from queue_core.roles.sequence import IdSequence

    q = FileQueue(tmp_path / "tasks.json")
    life = RecordingLife(wakes=10)
    options = {} if batch is None else {"batch": batch}
    assert produce(q, IdSequence(tmp_path / "ids"), life, random.Random(1), interval=(1, 1),
                   time_scale=1.0, max_tasks=2, **options) == 2
    assert life.slept == ([1.0] if batch is None else [])
    assert [t["id"] for t in q.get_many(10)] == [1, 2]


@pytest.mark.parametrize("error, code", [
    (QueueNotFoundError("/q/tasks.json", "nothing there"), 2),
    (OSError(5, "Input/output error"), 1),
])
def test_a_role_without_a_duration_logs_its_error_as_one_line(capsys, role_process, error,
                                                              code):
    import argparse

    from queue_core.roles.lifecycle import run_role

    lives = []

    def body(args, life):
        lives.append(life)
        assert not life.stopping, "no duration: no deadline"
        raise error

    assert run_role("tester", argparse.ArgumentParser(), [], body) == code
    [line] = capsys.readouterr().out.splitlines()
    assert line.endswith(f" ERROR tester: {error}")
    assert lives[0]._deadline is None
