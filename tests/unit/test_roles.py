"""The producer, consumer and monitor loops, in-process."""

import json
import random
import threading

from queue_core import FileQueue, monitor
from queue_core.consumer import consume
from queue_core.lifecycle import Lifecycle
from queue_core.monitor import QueueProbe, build_report
from queue_core.producer import produce
from queue_core.results import summarize_results, write_result
from queue_core.sequence import IdSequence
from queue_core.tasks import TASK_TYPES, task_problem

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
    from queue_core.lifecycle import configure_logging

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


def test_monitor_once_json_prints_one_report_line(tmp_path, capsys):
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
    from queue_core import consumer, producer

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
