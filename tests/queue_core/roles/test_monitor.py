"""The monitor only reads: a missing queue is reported, never created; a broken one is an error."""

import json

import pytest

from queue_core import FileQueue, QueueNotFoundError
from queue_core.roles import monitor
from queue_core.roles.lifecycle import Lifecycle
from queue_core.roles.monitor import QueueProbe
from queue_core.roles.settings import build_parser


def once(queue_file, results, capsys, *flags):
    code = monitor.main(["--once", *flags, "--queue-file", str(queue_file),
                         "--results-dir", str(results)], environ={})
    return code, capsys.readouterr().out.splitlines()


def tree(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.mark.parametrize("missing", ["q/tasks.json", "a/b/tasks.json", "tasks.json"])
def test_once_on_a_queue_that_does_not_exist_exits_2_and_creates_nothing(
        missing, tmp_path, capsys):
    code, lines = once(tmp_path / missing, tmp_path / "results", capsys, "--json")
    assert code == 2
    [line] = lines
    assert f"no queue at {tmp_path / missing}" in line and "nothing was created" in line
    assert "Traceback" not in line
    assert tree(tmp_path) == []


def test_once_on_a_corrupt_queue_exits_1_and_leaves_the_file_as_it_was(tmp_path, capsys):
    queue_file = tmp_path / "tasks.json"
    queue_file.write_text("{oops")
    code, lines = once(queue_file, tmp_path / "results", capsys, "--queue-format", "json-array")
    assert code == 1
    [line] = lines
    assert str(queue_file) in line and "corrupt" in line
    assert queue_file.read_text() == "{oops"


def test_once_on_a_queue_that_cannot_be_read_exits_1(tmp_path, capsys):
    queue_file = tmp_path / "tasks.json"
    queue_file.mkdir()
    code, lines = once(queue_file, tmp_path / "results", capsys)
    assert code == 1
    [line] = lines
    assert str(queue_file) in line and "not a regular file" in line
    assert "Traceback" not in line
    assert tree(tmp_path) == ["tasks.json"]


def test_once_on_an_existing_queue_reports_it_and_exits_0(queue, tmp_path, capsys):
    queue.put("waiting")
    code, lines = once(queue.path, tmp_path / "results", capsys, "--json",
                       "--queue-format", queue.format)
    assert code == 0
    [line] = lines
    report = json.loads(line)
    assert (report["queue_size"], report["queue_error"]) == (1, None)


def run_loop(monkeypatch, queue_file, reports, *flags):
    """The monitor's loop until it has printed ``reports`` reports; the reports it printed."""
    args = build_parser("queue-monitor", "", monitor.SETTINGS, {}).parse_args(
        ["--queue-file", str(queue_file), "--initial-delay", "0", "--interval", "0.001",
         "--json", *flags])
    life = Lifecycle()
    printed = []

    def emit(report, as_json):
        printed.append(report)
        if len(printed) == reports:
            life.stop("enough reports")

    monkeypatch.setattr(monitor, "emit", emit)
    monitor._run(args, life)
    return printed


def test_the_loop_reports_a_missing_queue_at_every_interval_and_never_creates_it(
        tmp_path, monkeypatch):
    printed = run_loop(monkeypatch, tmp_path / "q" / "tasks.json", 3)
    assert len(printed) == 3
    for report in printed:
        assert report["queue_size"] is None
        assert "no queue at" in report["queue_error"]
    assert tree(tmp_path) == []


def test_the_loop_reports_a_corrupt_queue_at_every_interval(tmp_path, monkeypatch):
    queue_file = tmp_path / "tasks.json"
    queue_file.write_text("{oops")
    printed = run_loop(monkeypatch, queue_file, 3, "--queue-format", "json-array")
    assert ["corrupt" in report["queue_error"] for report in printed] == [True] * 3
    assert queue_file.read_text() == "{oops"


def test_the_probe_starts_reading_the_queue_once_it_is_created(tmp_path):
    queue_file = tmp_path / "tasks.json"
    probe = QueueProbe(queue_file, "journal")
    stats, problem = probe.stats()
    assert stats is None and "queue file does not exist" in problem
    assert isinstance(probe.error, QueueNotFoundError)
    assert not queue_file.exists()
    FileQueue(queue_file).put("x")
    stats, problem = probe.stats()
    assert (stats.waiting, problem, probe.error) == (1, None, None)


def test_the_missing_queue_error_survives_pickling_between_processes(tmp_path):
    import pickle

    error = QueueNotFoundError(tmp_path / "tasks.json", "the queue file does not exist")
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), again.path, again.reason) == (str(error), error.path, error.reason)


@pytest.mark.parametrize("case", ["no directory", "not a directory", "no file", "not a file"])
def test_what_the_probe_finds_instead_of_a_queue_word_for_word(tmp_path, case):
    from queue_core import CorruptQueueError

    directory = tmp_path / "queue"
    queue_file = directory / "tasks.json"
    if case == "not a directory":
        directory.write_bytes(b"")
    elif case != "no directory":
        directory.mkdir()
    if case == "not a file":
        queue_file.mkdir()
    probe = QueueProbe(queue_file, "journal")
    assert probe.error is None
    stats, problem = probe.stats()
    assert stats is None
    assert probe.error.path == queue_file
    expected = {
        "no directory": (QueueNotFoundError, f"the directory {directory} does not exist"),
        "not a directory": (QueueNotFoundError, f"{directory} is not a directory"),
        "no file": (QueueNotFoundError, "the queue file does not exist (not created yet, or "
                                        "a mistyped path)"),
        "not a file": (CorruptQueueError, "it is not a regular file"),
    }[case]
    assert type(probe.error) is expected[0]
    assert (probe.error.problem if case == "not a file" else probe.error.reason) == expected[1]
    assert problem == str(probe.error)
