"""A worker's history file on a shared volume (``harness.history.recorder.FileSink``) and the
markers beside it: what a full or failing volume leaves, and what the harness reads back from it."""

import json

import pytest

from harness.containers.inside import MARKER_UNREADABLE, SharedVolume
from harness.errors import HistoryError, HistoryUnwritable
from harness.history import recorder as record
from harness.history.recorder import FileSink, Recorder, records_from_lines


def short_writes(monkeypatch, after):
    """Make every write, after the next ``after`` ones, take only half its bytes; returns the
    lengths of the writes asked for, in order."""
    real = record.os.write
    asked = []

    def write(fd, data):
        asked.append(len(data))
        return real(fd, data if len(asked) <= after else data[:len(data) // 2])

    monkeypatch.setattr(record.os, "write", write)
    return asked


def test_an_operation_whose_invocation_was_not_recorded_is_never_called(tmp_path, monkeypatch):
    path = tmp_path / "w.0.jsonl"
    sink = FileSink(path)
    calls = []
    recorder = Recorder("w.0", sink)
    assert recorder("put", lambda: calls.append("a"), "a") == (True, None)
    asked = short_writes(monkeypatch, after=0)
    with pytest.raises(HistoryUnwritable) as refused:
        recorder("put", lambda: calls.append("b"), "b")
    (length,) = asked  # the line's length depends on the clock's digits: read it, never pin it
    assert str(refused.value) == f"{path} took {length // 2} of {length} bytes"
    with pytest.raises(HistoryUnwritable):
        recorder("put", lambda: calls.append("c"), "c")
    assert calls == ["a"], "no operation runs unrecorded"
    lines = path.read_text().split("\n")
    assert len(lines) == 3 and not lines[-1].endswith("]"), "nothing after the cut line"
    (put,) = records_from_lines("w.0", lines)
    assert (put["op"], put["value"], put["type"]) == ("put", "a", "ok")


def test_a_completion_cut_short_leaves_the_operation_in_doubt(tmp_path, monkeypatch):
    path = tmp_path / "w.0.jsonl"
    recorder = Recorder("w.0", FileSink(path))
    short_writes(monkeypatch, after=1)  # the invocation whole, the completion cut
    with pytest.raises(HistoryUnwritable):
        recorder("get", lambda: "item")
    (get,) = records_from_lines("w.0", path.read_text().split("\n"), died_at=99)
    assert (get["op"], get["type"], get["return"]) == ("get", "info", 99)


def test_a_failing_write_is_unwritable_too(tmp_path, monkeypatch):
    sink = FileSink(tmp_path / "w.0.jsonl")

    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(record.os, "write", full)
    with pytest.raises(HistoryUnwritable, match="No space left on device"):
        sink.invoked("w.0", "put", 1, "a")


def test_a_line_that_is_no_report_before_the_last_is_damage_not_a_lost_operation():
    lines = [json.dumps(["I", "get", 1, None]), '["C", "ok", 2', json.dumps(["I", "get", 3, None])]
    with pytest.raises(HistoryError, match=r"line 2 of w\.0's history"):
        records_from_lines("w.0", lines)


def test_markers_are_whole_or_unreadable_never_a_false_zero(tmp_path):
    volume = SharedVolume(tmp_path)
    volume.finished.mkdir()
    volume.write_marker(volume.finished / "producer-1", "0")
    (volume.finished / "consumer-1").write_text("")  # what a full disk left before the fix
    (volume.finished / ".consumer-2.77").write_text("3")  # a marker being written
    assert volume.finished_codes() == {"producer-1": 0, "consumer-1": MARKER_UNREADABLE}
    assert sorted(p.name for p in volume.finished.iterdir()) == [
        ".consumer-2.77", "consumer-1", "producer-1"]
