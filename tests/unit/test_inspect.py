"""python -m queue_core.inspect: a read-only report; exit 0 healthy, 1 damaged, 2 unusable."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import queue_core
from queue_core import FileQueue
from queue_core.inspect import DAMAGED, HEALTHY, UNUSABLE, inspect_queue, main

from .fake_clock import FakeClock


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

    def crash(self):
        raise KeyboardInterrupt  # stands for a kill: no cleanup runs

    with monkeypatch.context() as patch:
        patch.setattr(type(q._storage), "pop", crash)
        with pytest.raises(KeyboardInterrupt):
            q.claim(lease=10)
    report = inspect_queue(queue_path, now=clock.now)
    expected = FileQueue(queue_path, format=queue_format, clock=clock).stats()
    assert expected[:2] == (2, 0)
    assert report.stats == expected, "what the next operation will find: 'a' waiting, first"
