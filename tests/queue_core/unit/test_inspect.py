"""python -m queue_core.inspect: a read-only report; exit 0 healthy, 1 damaged, 2 unusable."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import queue_core
from queue_core import FileQueue
from queue_core.inspect import DAMAGED, HEALTHY, UNUSABLE, inspect_queue, main
from tests.support.fake_clock import FakeClock


def files_state(directory):
    """Every file's name, bytes and modification time."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.iterdir())}


@pytest.fixture
def busy_queue(queue_path, queue_format):
    clock = FakeClock()
    q = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=2)
    for n in range(6):
        q.put(n)
    q.get()
    q.claim(lease=10)                      # 1: in flight
    q.nack(q.claim(lease=10), delay=100)   # 2: delayed
    for _ in range(2):                     # 3: used up its 2 attempts: dead
        assert q.claim(lease=1).item == 3
        clock.now += 2
    assert q.stats()[:4] == (2, 1, 1, 1)   # 4 and 5 waiting
    return q, clock


@pytest.fixture
def no_writes(monkeypatch):
    """Fails the test if anything opens a file for writing or creates one."""
    real_open = os.open

    def read_only_open(path, flags, *args, **kwargs):
        assert not flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT), f"opened {path} to write"
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)


def test_a_healthy_queue_is_reported_with_the_queue_s_own_figures(busy_queue, queue_path,
                                                                  queue_format, no_writes):
    q, clock = busy_queue
    expected = q.stats()
    before = files_state(queue_path.parent)
    report = inspect_queue(queue_path, max_attempts=2, now=clock.now)
    assert files_state(queue_path.parent) == before
    assert report.status == HEALTHY
    assert report.stats == expected
    assert report.details["format"] == queue_format
    assert report.files["tasks.json"] == queue_path.stat().st_size
    assert report.files["tasks.json.ids"] is None
    text = report.as_text()
    assert f"{expected.waiting} waiting, {expected.in_flight} in flight" in text
    assert "verdict: healthy" in text


def test_the_json_report_and_exit_status(busy_queue, queue_path, capsys):
    assert main([str(queue_path), "--json", "--max-attempts", "2"]) == HEALTHY
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "healthy"
    assert report["damage"] == []
    assert {"waiting", "in_flight", "delayed", "dead", "oldest_waiting_age"} <= report.keys()


def test_a_damaged_head_is_reported_and_left_as_it_was(queue_path, capsys):
    q = FileQueue(queue_path, format="journal")
    q.put("a")
    q.get()
    head = queue_path.with_name("tasks.json.head")
    head.write_bytes(b"\x07" * len(head.read_bytes()))
    before = files_state(queue_path.parent)
    assert main([str(queue_path)]) == DAMAGED
    out = capsys.readouterr().out
    assert "tasks.json.head" in out and "verdict: damaged" in out
    assert files_state(queue_path.parent) == before


def test_a_file_in_no_known_format_is_damage(queue_path, capsys):
    queue_path.parent.mkdir(parents=True)
    queue_path.write_bytes(b"hello")
    assert main([str(queue_path), "--json"]) == DAMAGED
    assert "neither a journal nor a JSON array" in json.loads(capsys.readouterr().out)["damage"][0]


@pytest.mark.parametrize("where", ["missing", "directory", "no-parent"])
def test_a_path_that_is_no_queue_is_unusable(tmp_path, where, capsys):
    path = {"missing": tmp_path / "tasks.json", "directory": tmp_path,
            "no-parent": tmp_path / "nowhere" / "tasks.json"}[where]
    assert main([str(path)]) == UNUSABLE
    assert str(path.parent if where == "no-parent" else path) in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_it_runs_as_a_module(queue_path):
    FileQueue(queue_path).put("a")
    package_root = Path(queue_core.__file__).parent.parent
    done = subprocess.run([sys.executable, "-m", "queue_core.inspect", str(queue_path)],
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(package_root)})
    assert done.returncode == HEALTHY, done.stderr
    assert "1 waiting" in done.stdout


def test_a_damaged_ledger_and_a_lost_flag_are_reported(queue_path, queue_format):
    q = FileQueue(queue_path, format=queue_format)
    q.put("a")
    q.claim()
    q.close()
    os.truncate(queue_path.with_name("tasks.json.lock"), 0)
    report = inspect_queue(queue_path)
    assert report.status == HEALTHY
    assert any("claims flag is missing" in note for note in report.notes)
    with open(queue_path.with_name("tasks.json.claims"), "ab") as claims:
        claims.write(b'{"op":"nonsense"}\n')
    report = inspect_queue(queue_path)
    assert report.status == DAMAGED
    assert "tasks.json.claims" in report.damage[0]


def test_a_claim_cut_short_before_its_item_left_the_storage_counts_it_once_as_waiting(
        queue_path, queue_format, monkeypatch):
    clock = FakeClock()
    q = FileQueue(queue_path, format=queue_format, clock=clock)
    for item in ("a", "b"):
        q.put(item)

    def crash(self, count):
        raise KeyboardInterrupt  # stands for a kill: no cleanup runs

    with monkeypatch.context() as patch:
        patch.setattr(type(q._storage), "pop_many", crash)
        with pytest.raises(KeyboardInterrupt):
            q.claim(lease=10)
    report = inspect_queue(queue_path, now=clock.now)
    expected = FileQueue(queue_path, format=queue_format, clock=clock).stats()
    assert expected[:2] == (2, 0)
    assert report.stats == expected, "what the next operation will find: 'a' waiting, first"


# -- the report word for word ---------------------------------------------------------------


def test_the_text_report_word_for_word(queue_path):
    clock = FakeClock()
    q = FileQueue(queue_path, format="journal", clock=clock)
    for item in ("a", "b", "c"):
        q.put(item)
    q.claim(lease=10)
    q.close()
    clock.advance(2.25)
    queue_path.with_name("tasks.json.ids").write_bytes(b"12")
    report = inspect_queue(queue_path, now=clock.now)
    size = {name: os.path.getsize(queue_path.with_name(name))
            for name in ("tasks.json", "tasks.json.head", "tasks.json.claims")}
    assert report.path == queue_path
    assert report.as_text() == "\n".join([
        f"queue: {queue_path}",
        f"format: journal (version 3, generation 1, queue id {report.details['queue_id']})",
        "files:",
        f"  tasks.json         {size['tasks.json']:>9,} bytes",
        f"  tasks.json.head    {size['tasks.json.head']:>9,} bytes",
        f"  tasks.json.claims  {size['tasks.json.claims']:>9,} bytes",
        "  tasks.json.lock           17 bytes",
        "  tasks.json.ids             2 bytes",
        "items: 2 waiting, 1 in flight, 0 delayed, 0 dead; oldest waiting item's age: 2.2 s",
        "damage: none",
        "verdict: healthy",
    ])


def test_the_text_report_of_a_queue_without_claims_or_details(queue_path):
    FileQueue(queue_path, format="json-array").close()
    report = inspect_queue(queue_path)
    lines = report.as_text().splitlines()
    assert lines[1:4] == ["format: json-array", "files:", "  tasks.json                 2 bytes"]
    assert lines[4:7] == ["  tasks.json.head    missing", "  tasks.json.claims  missing",
                          "  tasks.json.lock           17 bytes"]
    assert lines[8] == ("items: 0 waiting, 0 in flight, 0 delayed, 0 dead; "
                        "oldest waiting item's age: none")
    assert report.notes == []


def test_a_report_with_a_detail_left_out_and_without_figures(tmp_path):
    from queue_core.inspect import Report

    report = Report(tmp_path / "q", details={"format": "journal", "queue_id": None,
                                             "some_detail": 7},
                    files={"q": 1}, damage=["one", "two"], notes=["a note"])
    assert report.as_text() == "\n".join([
        f"queue: {tmp_path / 'q'}", "format: journal (some detail 7)", "files:",
        "  q          1 byte", "note: a note", "damage: one", "damage: two",
        "verdict: damaged"])
    assert Report(tmp_path / "q", files={"q": 0}).as_text().splitlines()[1] == \
        "format: unknown"


def test_the_json_report_word_for_word(busy_queue, queue_path, queue_format):
    q, clock = busy_queue
    q.close()
    report = inspect_queue(queue_path, max_attempts=2, now=clock.now)
    expected = {"path": str(queue_path), **report.details,
                "files": {name: queue_path.with_name(name).stat().st_size
                          if queue_path.with_name(name).exists() else None
                          for name in ("tasks.json", "tasks.json.head", "tasks.json.claims",
                                       "tasks.json.lock", "tasks.json.ids")},
                **q.stats()._asdict(), "damage": [], "notes": [], "verdict": "healthy"}
    assert report.as_json() == expected
    assert report.details["format"] == queue_format
    report.damage.append("broken")
    assert report.as_json()["verdict"] == "damaged"


def test_main_prints_the_unusable_verdict_as_json(tmp_path, capsys):
    path = tmp_path / "tasks.json"
    assert main([str(path), "--json"]) == UNUSABLE
    assert json.loads(capsys.readouterr().out) == {
        "path": str(path), "verdict": "unusable", "error": f"there is no queue file {path}"}


def test_the_help_names_the_options_and_the_exit_statuses(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("usage: python -m queue_core.inspect [-h]")
    for text in ("Report a queue's files, counts and damage without changing anything. "
                 "Exit status: 0 healthy, 1 damaged, 2 not a usable queue path.",
                 "path the queue file, e.g. /shared-queue/tasks.json",
                 "--json print the report as JSON",
                 "--max-attempts MAX_ATTEMPTS the queue's max_attempts, to count spent items "
                 "as dead (default: 5)",
                 "--lock-timeout LOCK_TIMEOUT seconds to wait for the queue's lock (default: 5)"):
        assert text in out


@pytest.mark.parametrize("argv, dead", [([], 1), (["--max-attempts", "6"], 0)])
def test_items_that_used_up_5_attempts_count_as_dead_by_default(queue_path, argv, dead,
                                                                capsys):
    clock = FakeClock()
    q = FileQueue(queue_path, clock=clock, max_attempts=10)
    q.put("a")
    for _ in range(5):
        q.claim(lease=1)
        clock.advance(2)
    q.close()
    assert inspect_queue(queue_path, now=clock.now, max_attempts=6 - dead).stats.dead == dead
    if not argv:
        assert inspect_queue(queue_path, now=clock.now).stats.dead == 1
    assert main([str(queue_path), "--json", *argv]) == HEALTHY
    assert json.loads(capsys.readouterr().out)["dead"] == dead


def test_a_file_in_no_known_format_is_reported_word_for_word(queue_path):
    queue_path.parent.mkdir(parents=True)
    queue_path.write_bytes(b"x" * 40)
    report = inspect_queue(queue_path)
    assert report.details == {"format": "unknown"}
    assert report.damage == [f"tasks.json is neither a journal nor a JSON array "
                             f"(it starts with {b'x' * 32!r})"]
    assert report.as_text().splitlines()[1] == "format: unknown"


def test_a_json_array_after_blank_space_is_recognised(queue_path):
    queue_path.parent.mkdir(parents=True)
    queue_path.write_bytes(b'\n  ["a"]')
    report = inspect_queue(queue_path)
    assert report.details == {"format": "json-array"}
    assert report.stats.waiting == 1


def test_files_that_cannot_be_read_are_damage_of_the_format_found(queue_path, monkeypatch):
    from queue_core.storage.journal import JournalStorage

    FileQueue(queue_path, format="journal").put("a")

    def failing_open(self):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(JournalStorage, "open_read_only", failing_open)
    report = inspect_queue(queue_path)
    assert report.details == {"format": "journal"}
    assert report.damage == ["cannot read the queue's files: [Errno 5] Input/output error"]


def test_a_missing_head_still_names_the_format(queue_path):
    FileQueue(queue_path, format="journal").put("a")
    queue_path.with_name("tasks.json.head").unlink()
    report = inspect_queue(queue_path)
    assert report.details == {"format": "journal"}
    assert report.as_json()["format"] == "journal"
    assert "tasks.json.head" in report.damage[0]


def test_the_lost_claims_flag_note_word_for_word(queue_path, queue_format):
    q = FileQueue(queue_path, format=queue_format)
    q.put("a")
    q.claim()
    q.close()
    assert inspect_queue(queue_path).notes == [], "the flag is raised: nothing to say"
    os.truncate(queue_path.with_name("tasks.json.lock"), 0)
    assert inspect_queue(queue_path).notes == [
        "the lock file's claims flag is missing (lost in a power loss?): the next open raises "
        "it again from the ledger"]


def test_a_queue_without_claims_and_its_flag_lowered_has_nothing_to_note(queue_path,
                                                                        queue_format):
    FileQueue(queue_path, format=queue_format).put("a")
    assert queue_path.with_name("tasks.json.lock").read_bytes()[:1] == b"0"
    assert inspect_queue(queue_path).notes == []


def test_the_temporary_files_of_interrupted_writes_are_noted(queue_path, queue_format):
    FileQueue(queue_path, format=queue_format).put("a")
    for name in (".tasks.json.tmp-b", ".tasks.json.tmp-a", ".tasks.json.bak", ".other.tmp-x",
                 "tasks.json.tmp-c"):
        (queue_path.parent / name).write_bytes(b"")
    assert inspect_queue(queue_path).notes == [
        "temporary files of interrupted writes (removed on the next open): "
        ".tasks.json.tmp-a, .tasks.json.tmp-b"]


def test_an_unreadable_queue_file_is_unusable(queue_path, monkeypatch, capsys):
    FileQueue(queue_path).put("a")
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(queue_core.inspect.UnusablePath) as raised:
        inspect_queue(queue_path)
    assert str(raised.value) == f"no permission to read {queue_path}"


def test_a_missing_lock_file_is_noted(queue_path, queue_format):
    FileQueue(queue_path, format=queue_format).put("a")
    queue_path.with_name("tasks.json.lock").unlink()
    report = inspect_queue(queue_path)
    assert report.notes == ["no lock file tasks.json.lock: read without the lock"]
    assert report.stats.waiting == 1


def test_the_report_leaves_no_descriptor_open(queue_path, queue_format):
    q = FileQueue(queue_path, format=queue_format)
    q.put("a")
    q.claim()
    q.close()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        inspect_queue(queue_path)
    assert len(os.listdir("/proc/self/fd")) == before


class _FakeTime:
    """``time`` for inspect: one second passes per sleep, recorded."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def monotonic(self):
        return self.now

    def time(self):
        return 1_000_000.0

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += 1.0


@pytest.fixture
def held_lock(queue_path):
    """The queue's lock, held by someone else all along."""
    import fcntl

    FileQueue(queue_path).put("a")
    fd = os.open(queue_path.with_name("tasks.json.lock"), os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield
    os.close(fd)


def test_a_lock_held_too_long_is_waited_for_then_read_without(queue_path, held_lock,
                                                             monkeypatch):
    fake = _FakeTime()
    monkeypatch.setattr(queue_core.inspect, "time", fake)
    report = inspect_queue(queue_path, lock_timeout=2)
    assert fake.sleeps == [0.01, 0.01], "polled until the deadline, at the deadline included"
    assert report.notes == ["the lock was held for over 2 s: read without it (figures may "
                            "be mid-change)"]
    assert report.stats.waiting == 1


@pytest.mark.parametrize("argv, waited", [([], "5.0"), (["--lock-timeout", "1.5"], "1.5")])
def test_main_waits_5_seconds_for_the_lock_by_default(queue_path, held_lock, monkeypatch,
                                                      capsys, argv, waited):
    monkeypatch.setattr(queue_core.inspect, "time", _FakeTime())
    assert main([str(queue_path), "--json", *argv]) == HEALTHY
    assert json.loads(capsys.readouterr().out)["notes"] == [
        f"the lock was held for over {waited} s: read without it (figures may be mid-change)"]
    monkeypatch.setattr(queue_core.inspect, "time", _FakeTime())
    assert inspect_queue(queue_path).notes[0].startswith("the lock was held for over 5.0 s")


def test_a_ledger_that_names_no_pending_order_counts_the_item_once(queue_path, queue_format):
    """The next operation finishes such a move (see test_claims): the item is held only."""
    from queue_core.ledger import Ledger

    q = FileQueue(queue_path, format=queue_format)
    q.put("a")
    q.ack(q.claim())
    q.put("c")
    q.put("d")
    position = q._storage.position()
    ledger = Ledger(queue_path)
    ledger.queue_id = q._storage.queue_id
    ledger.path.write_bytes(ledger._header() + b"".join(json.dumps(r).encode() + b"\n" for r in [
        {"op": "next", "order": 4},
        {"op": "pending", "from": position},
        {"op": "entry", "order": 3, "item": "c", "attempts": 1, "held": True,
         "until": time.time() + 3600, "put_at": None},  # held for an hour from now
    ]))
    q.close()
    report = inspect_queue(queue_path)
    assert report.stats[:2] == (1, 1), "'c' is held, not also waiting; 'd' waits"
    assert report.stats[:4] == FileQueue(queue_path, format=queue_format).stats()[:4]


def test_a_json_array_after_more_blank_space_than_the_first_read_is_recognised(queue_path):
    queue_path.parent.mkdir(parents=True)
    queue_path.write_bytes(b"\n" * 64 + b" " * 5000 + b'["a", "b"]')
    assert FileQueue(queue_path, format="json-array").size() == 2, "the queue reads it"
    report = inspect_queue(queue_path)
    assert report.damage == []
    assert report.details == {"format": "json-array"}
    assert report.stats.waiting == 2


@pytest.mark.parametrize("content", [b"", b" \n\t" * 2000])
def test_an_empty_or_blank_queue_file_is_damage(queue_path, content):
    queue_path.parent.mkdir(parents=True)
    queue_path.write_bytes(content)
    report = inspect_queue(queue_path)
    assert report.details == {"format": "unknown"}
    assert report.damage == [f"tasks.json is neither a journal nor a JSON array (it starts "
                             f"with {content[:32]!r})"]
