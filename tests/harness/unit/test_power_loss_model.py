"""The power-loss model: what it replays, what it may lose, and that it matches the real files."""

import os

import pytest

from harness.disk import fileops
from harness.disk.fsmodel import Op, Recorder, materialize, power_loss_states, replay, unsynced
from harness.disk.workloads import lowered_thresholds
from queue_core import FileQueue
from queue_core.atomic import write_atomic


def _record(directory, action):
    recorder = Recorder(directory)
    points = iter(range(10**6))
    with fileops.intercept(lambda call, perform: recorder.perform(next(points), call, perform)
                           if call.path is not None else perform()):
        action()
    return recorder.ops


def _files(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_an_append_and_a_create_that_were_never_synced_may_be_lost():
    ops = [Op(0, "create", "1.0", "log"), Op(1, "write", "1.0", "log", data=b"abc\n")]
    states = dict(power_loss_states(ops, 2))
    assert states["nothing lost"] == {"log": b"abc\n"}
    assert states["every unsynced change lost"] == {}
    assert {"log": b""} in states.values()  # the create persisted, its data not


def test_a_synced_file_in_a_synced_directory_survives_whatever_else_is_lost():
    ops = [Op(0, "create", "1.0", "log"), Op(1, "write", "1.0", "log", data=b"abc\n"),
           Op(2, "fsync", "1.0", "log"), Op(3, "dirsync"),
           Op(4, "write", "1.0", "log", offset=4, data=b"def\n")]
    assert unsynced(ops) == [4]
    assert [files for _, files in power_loss_states(ops, 5)] == [
        {"log": b"abc\ndef\n"}, {"log": b"abc\n"}]


def test_a_synced_file_whose_directory_was_not_synced_may_be_missing():
    ops = [Op(0, "create", "1.0", "log"), Op(1, "write", "1.0", "log", data=b"abc\n"),
           Op(2, "fsync", "1.0", "log")]
    assert unsynced(ops) == [0]
    assert {} in [files for _, files in power_loss_states(ops, 3)]


def test_an_unsynced_rename_may_leave_the_old_file():
    ops = [Op(0, "create", "1.0", "f"), Op(1, "write", "1.0", "f", data=b"old"),
           Op(2, "fsync", "1.0", "f"), Op(3, "dirsync"),
           Op(4, "create", "2.0", ".tmp"), Op(5, "write", "2.0", ".tmp", data=b"new"),
           Op(6, "fsync", "2.0", ".tmp"), Op(7, "rename", "2.0", ".tmp", "f")]
    states = [files for _, files in power_loss_states(ops, 8)]
    assert {"f": b"new"} in states
    assert {"f": b"old"} in states
    assert {"f": b"old", ".tmp": b"new"} in states  # the rename alone lost


def test_a_lost_write_below_a_kept_one_reads_as_zeros():
    ops = [Op(0, "create", "1.0", "f"), Op(1, "write", "1.0", "f", data=b"ab"),
           Op(2, "write", "1.0", "f", offset=2, data=b"cd")]
    assert replay(ops, frozenset({1})) == {"f": b"\0\0cd"}


def test_a_recording_replayed_with_nothing_lost_is_the_real_directory(tmp_path):
    directory = tmp_path / "q"
    directory.mkdir()

    def action():
        for n in range(3):  # each replace frees an inode number that the next may reuse
            write_atomic(directory / "f", f"v{n}".encode(), fsync=True)
        fd = os.open(directory / "log", os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(fd, b"one\n")
        os.pwrite(fd, b"ONE", 0)  # Linux appends: the descriptor has O_APPEND
        os.write(fd, b"two\n")
        os.ftruncate(fd, 9)
        os.close(fd)
        fd = os.open(directory / "slots", os.O_RDWR | os.O_CREAT, 0o644)
        os.pwrite(fd, b"xy", 4)
        os.pwrite(fd, b"ab", 0)
        os.close(fd)
        os.unlink(directory / "f")

    ops = _record(directory, action)
    assert replay(ops) == _files(directory) == {"log": b"one\nONEtw", "slots": b"ab\0\0xy"}


@pytest.mark.parametrize("fmt", ["journal", "json-array"])
def test_the_model_of_a_queue_run_matches_its_files(tmp_path, fmt):
    directory = tmp_path / "q"
    directory.mkdir()

    def action():
        queue = FileQueue(directory / "tasks.json", format=fmt, fsync=True)
        for n in range(30):
            queue.put(f"item-{n}")
            if n % 3:
                queue.get()
        queue.claim()
        queue.close()

    with lowered_thresholds():  # compactions (renames over live files) included
        ops = _record(directory, action)
    assert any(op.kind == "rename" and op.target == "tasks.json" for op in ops[2:])
    assert replay(ops) == _files(directory)


def test_materialize_writes_the_files(tmp_path):
    materialize({"a": b"1", "b": b""}, tmp_path / "state")
    assert _files(tmp_path / "state") == {"a": b"1", "b": b""}


def test_unsynced_changes_may_persist_in_order_or_by_kind():
    ops = [Op(0, "create", "1.0", "a"), Op(1, "write", "1.0", "a", data=b"x"),
           Op(2, "create", "2.0", "b")]
    states = dict(power_loss_states(ops, 3))
    assert states["kept in order up to: create a"] == {"a": b""}
    assert states["every unsynced write lost"] == {"a": b"", "b": b""}
    assert len(states) == len({frozenset(files.items()) for files in states.values()})


def test_a_link_names_the_same_file_twice_until_one_name_goes(tmp_path):
    directory = tmp_path / "q"
    directory.mkdir()

    def action():
        write_atomic(directory / "f", b"old", fsync=True)
        os.link(directory / "f", directory / "backup")
        write_atomic(directory / "f", b"new", fsync=True)  # the backup keeps the old file
        os.replace(directory / "backup", directory / "f")  # one rename puts it back
        os.link(directory / "f", directory / "second")
        os.unlink(directory / "second")

    ops = _record(directory, action)
    assert [op.kind for op in ops if op.kind in ("link", "rename", "unlink")] == [
        "rename", "link", "rename", "rename", "link", "unlink"]
    assert replay(ops) == _files(directory) == {"f": b"old"}


def test_an_unsynced_link_may_be_lost():
    ops = [Op(0, "create", "1.0", "f"), Op(1, "write", "1.0", "f", data=b"x"),
           Op(2, "fsync", "1.0", "f"), Op(3, "dirsync"), Op(4, "link", "1.0", "f", "g")]
    states = [files for _, files in power_loss_states(ops, 5)]
    assert {"f": b"x", "g": b"x"} in states and {"f": b"x"} in states
