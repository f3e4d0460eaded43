"""The monitor's running tally of result files: it reads each file once, matches a full
recount, and counts a result rewritten by a redelivery once."""

import os
import random

import pytest

from queue_core.roles import results
from queue_core.roles.results import ResultsTally, summarize_results, write_result


def result(task_id, worker="c1", task_type="send_email", seconds=1.0):
    return {"task_id": task_id, "type": task_type, "processing_time": seconds,
            "processed_by": worker}


def figures(summary):
    return (summary.completed, summary.unreadable, round(summary.total_processing_time, 6),
            dict(summary.by_type), dict(summary.by_worker))


@pytest.fixture
def reads(monkeypatch):
    """The names of the result files read, in order."""
    read = []
    real = results._read_result

    def counting(path):
        read.append(path.name)
        return real(path)

    monkeypatch.setattr(results, "_read_result", counting)
    return read


def test_the_tally_equals_a_full_recount_after_every_update(tmp_path):
    rng = random.Random(5)
    tally = ResultsTally(tmp_path)
    ids = [*range(1, 300), "abc", "x-1", "007", 2**40]
    rng.shuffle(ids)
    for start in range(0, len(ids), 37):
        for task_id in ids[start:start + 37]:
            write_result(tmp_path, result(task_id, rng.choice(["a", "b"]),
                                          rng.choice(["t1", "t2"]), rng.random()))
        (tmp_path / f"result_bad{start}.json").write_text("{half")
        assert figures(tally.update()) == figures(summarize_results(tmp_path))
    assert tally.summary.completed == len(ids)


def test_an_update_reads_only_the_files_that_are_new(tmp_path, reads):
    for n in range(1, 6):
        write_result(tmp_path, result(n))
    tally = ResultsTally(tmp_path)
    tally.update()
    assert len(reads) == 5
    reads.clear()
    tally.update()
    assert reads == []
    write_result(tmp_path, result(6))
    write_result(tmp_path, result("name"))
    tally.update()
    assert sorted(reads) == ["result_6.json", "result_name.json"]


def test_a_result_rewritten_by_a_redelivery_is_counted_once(tmp_path):
    tally = ResultsTally(tmp_path)
    write_result(tmp_path, result(1, worker="first"))
    write_result(tmp_path, result("s", worker="first"))
    tally.update()
    write_result(tmp_path, result(1, worker="second"))  # the same task done again
    write_result(tmp_path, result("s", worker="second"))
    write_result(tmp_path, result(2))
    summary = tally.update()
    assert summary.completed == 3 == summarize_results(tmp_path).completed
    assert summary.by_worker == {"first": 2, "c1": 1}


def test_an_unreadable_file_is_read_again_until_it_can_be(tmp_path):
    tally = ResultsTally(tmp_path)
    (tmp_path / "result_1.json").write_text("{not yet")
    assert (tally.update().completed, tally.summary.unreadable) == (0, 1)
    write_result(tmp_path, result(1))
    assert (tally.update().completed, tally.summary.unreadable) == (1, 0)
    (tmp_path / "result_2.json").write_text("[]")
    tally.update()
    (tmp_path / "result_2.json").unlink()
    assert (tally.update().completed, tally.summary.unreadable) == (1, 0)


def test_the_tally_keeps_no_list_of_task_ids(tmp_path):
    for n in range(1, 50):
        write_result(tmp_path, result(n))
    tally = ResultsTally(tmp_path)
    assert tally.update().task_ids == []
    assert len(tally._read_ids) <= 16 and not tally._read_names


def test_a_missing_directory_is_an_empty_tally(tmp_path):
    tally = ResultsTally(tmp_path / "absent")
    assert figures(tally.update()) == (0, 0, 0.0, {}, {})
    (tmp_path / "absent").mkdir()
    write_result(tmp_path / "absent", result(1))
    assert tally.update().completed == 1


def test_ids_that_differ_only_by_leading_zeros_are_different_results(tmp_path):
    tally = ResultsTally(tmp_path)
    for name in ("result_1.json", "result_01.json", "result_001.json"):
        (tmp_path / name).write_text('{"task_id": 1, "type": "a", "processing_time": 1, '
                                     '"processed_by": "w"}')
    assert tally.update().completed == 3


class Clock:
    """``time`` for results: ``time_ns`` as the test sets it."""

    def __init__(self, now):
        self.now = now

    def time_ns(self):
        return self.now


SECOND = 1_000_000_000


def add_file_keeping_the_mtime(directory, task_id, mtime):
    write_result(directory, result(task_id))
    os.utime(directory, ns=(mtime, mtime))


@pytest.mark.parametrize("listed_after, rescanned", [(SECOND, True), (SECOND + 1, False)])
def test_an_unchanged_directory_is_listed_again_until_its_mtime_is_a_second_old(
        tmp_path, monkeypatch, listed_after, rescanned):
    """An entry added in the same clock tick leaves the mtime as it was: only an mtime more
    than a second older than the listing proves that nothing was added unseen."""
    mtime = 1_700_000_000 * SECOND
    os.utime(tmp_path, ns=(mtime, mtime))
    monkeypatch.setattr(results, "time", Clock(mtime + listed_after))
    tally = ResultsTally(tmp_path)
    assert tally.update().completed == 0
    add_file_keeping_the_mtime(tmp_path, 1, mtime)
    assert tally.update().completed == (1 if rescanned else 0)


def test_a_directory_whose_mtime_changed_is_listed_again_however_old(tmp_path, monkeypatch):
    mtime = 1_700_000_000 * SECOND
    os.utime(tmp_path, ns=(mtime, mtime))
    monkeypatch.setattr(results, "time", Clock(mtime + 10 * SECOND))
    tally = ResultsTally(tmp_path)
    assert tally.update().completed == 0
    add_file_keeping_the_mtime(tmp_path, 1, mtime - 5 * SECOND)  # changed, and long ago
    assert tally.update().completed == 1
