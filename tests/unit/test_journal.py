"""The journal format's own rules: compaction, crash repair, torn heads, wrong formats."""

import json
import os

import pytest

from queue_core import CorruptQueueError, FileQueue
from queue_core.storage import journal
from queue_core.storage.journal import HEAD_HEADER_SIZE, SLOT_SIZE


@pytest.fixture
def small_compactions(monkeypatch):
    monkeypatch.setattr(journal, "COMPACT_MIN_BYTES", 200)
    monkeypatch.setattr(journal, "COMPACT_EMPTY_BYTES", 100)


def generation(path):
    return json.loads(path.read_text().split("\n")[0])["generation"]


def test_puts_append_lines_and_gets_move_the_head(queue_path):
    q = FileQueue(queue_path, format="journal", clock=lambda: 1700000000.5)
    q.put({"a": 1})
    q.put("b")
    lines = queue_path.read_text().splitlines()
    assert lines[1:] == ['1 1700000000.500000 {"a":1}', '2 1700000000.500000 "b"']
    assert q.get() == {"a": 1}
    assert queue_path.read_text().splitlines()[1:] == lines[1:], "a get rewrites nothing"
    assert q.size() == 1


def test_compaction_keeps_every_item_in_order(queue_path, small_compactions):
    q = FileQueue(queue_path, format="journal")
    out = []
    for n in range(300):
        q.put(f"item-{n}")
        if n % 3:
            out.append(q.get())
    assert generation(queue_path) > 1
    out.extend(iter(q.get, None))
    assert out == [f"item-{n}" for n in range(300)]
    assert q.size() == 0


def test_an_emptied_queue_is_compacted_to_its_header(queue_path, monkeypatch):
    monkeypatch.setattr(journal, "COMPACT_EMPTY_BYTES", 10)
    q = FileQueue(queue_path, format="journal")
    for n in range(20):
        q.put(f"item-{n}")
    assert [q.get() for _ in range(20)] == [f"item-{n}" for n in range(20)]
    assert len(queue_path.read_text().splitlines()) == 1


def test_a_crash_between_the_compacted_file_and_the_head_loses_and_repeats_nothing(
    queue_path, small_compactions, monkeypatch
):
    q = FileQueue(queue_path, format="journal")
    for n in range(40):
        q.put(f"item-{n}")
    real_write_head = journal.JournalStorage._write_head
    calls = []

    def crash_on_the_head_after_compaction(self, head):
        calls.append(head)
        if len(calls) > 1:
            raise SystemExit("killed")  # the compacted file is in place; its head is not
        real_write_head(self, head)

    monkeypatch.setattr(journal.JournalStorage, "_write_head", crash_on_the_head_after_compaction)
    taken = []
    with pytest.raises(SystemExit):
        while True:
            calls.clear()
            taken.append(q.get())
    monkeypatch.setattr(journal.JournalStorage, "_write_head", real_write_head)
    items = [f"item-{n}" for n in range(40)]
    assert taken == items[:len(taken)]
    # The get that crashed had moved the head before compacting: its item is gone, as a
    # get killed after taking its item may lose it. Nothing else is lost or repeated.
    reopened = FileQueue(queue_path, format="journal")
    assert list(iter(reopened.get, None)) == items[len(taken) + 1:]


def test_a_half_written_line_is_ignored_then_cut_off_by_the_next_put(queue_path):
    q = FileQueue(queue_path, format="journal")
    q.put("whole")
    with open(queue_path, "ab") as data:
        data.write(b'2 {"half": ')
    assert q.size() == 1
    q.put("next")
    assert q.size() == 2
    assert [q.get(), q.get(), q.get()] == ["whole", "next", None]


def test_a_torn_head_slot_falls_back_to_the_previous_head(queue_path):
    q = FileQueue(queue_path, format="journal")
    for item in ("a", "b", "c"):
        q.put(item)
    assert q.get() == "a"
    head_path = queue_path.with_name("tasks.json.head")
    raw = bytearray(head_path.read_bytes())
    slots = [HEAD_HEADER_SIZE + i * SLOT_SIZE for i in range(2)]
    newest = max(slots, key=lambda at: int.from_bytes(raw[at:at + 8], "little"))
    raw[newest + 3] ^= 0xFF  # a write cut short by a crash
    head_path.write_bytes(bytes(raw))
    assert FileQueue(queue_path, format="journal").get() == "a", "the get that tore is undone"


def test_a_json_array_file_is_not_read_as_a_journal(queue_path):
    FileQueue(queue_path, format="json-array").put("x")
    before = queue_path.read_bytes()
    with pytest.raises(CorruptQueueError, match="format='json-array'"):
        FileQueue(queue_path, format="journal")
    assert queue_path.read_bytes() == before


def test_a_corrupt_item_line_raises_and_changes_nothing(queue_path):
    q = FileQueue(queue_path, format="journal")
    q.put("fine")
    with open(queue_path, "ab") as data:
        data.write(b"not-a-number xyz\n")
    assert q.get() == "fine"
    before = queue_path.read_bytes()
    with pytest.raises(CorruptQueueError, match="is not '<number> <put time> <JSON>'"):
        q.get()
    assert queue_path.read_bytes() == before


def test_fsync_flushes_the_journal_and_the_head(queue_path, monkeypatch):
    q = FileQueue(queue_path, format="journal", fsync=True)
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.path.basename(os.path.realpath(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    q.put("durable")
    assert synced == ["tasks.json"]
    q.get()
    assert synced == ["tasks.json", "tasks.json.head"]


def test_a_journal_of_another_version_is_refused_by_name(queue_path):
    queue_path.parent.mkdir(parents=True)
    queue_path.write_text('{"format":"queue-journal","version":1,"generation":1}\n1 "a"\n')
    before = queue_path.read_bytes()
    with pytest.raises(CorruptQueueError, match="version 1; this queue reads versions 2, 3"):
        FileQueue(queue_path, format="journal")
    assert queue_path.read_bytes() == before
