"""Files replaced while a queue is open (a compaction's new generation of ``tasks.json``, a
ledger snapshot, a new ``tasks.json.sync``), while another name still links the old file (a
backup by hard link: ``ln``, ``cp -al``). A process must notice the replacement by the file's
identity, not by its link count, which the second name keeps above zero."""

import errno
import os

import pytest

from queue_core import CorruptQueueError, FileQueue, StorageError, ledger
from queue_core.groupcommit import SYNC_SUFFIX
from queue_core.storage import journal
from tests.support.fake_clock import FakeClock
from tests.support.faulty_disk import FaultyDisk


@pytest.fixture
def compact_when_emptied(monkeypatch):
    monkeypatch.setattr(journal, "COMPACT_EMPTY_BYTES", 0)


def linked_then_compacted(queue_path, tmp_path):
    """A producer holds the data file open; it gets a second name; a consumer's get empties
    the journal, which compacts it into a new file."""
    producer, consumer = FileQueue(queue_path), FileQueue(queue_path)
    producer.put("a")
    os.link(queue_path, tmp_path / "backup-tasks.json")
    assert consumer.get() == "a"
    return producer, consumer


def test_a_put_after_another_process_compacted_lands_in_the_live_file(
        queue_path, tmp_path, compact_when_emptied):
    producer, _ = linked_then_compacted(queue_path, tmp_path)
    producer.put("b")
    assert list(iter(FileQueue(queue_path).get, None)) == ["b"]


def test_the_compacting_process_reads_its_own_new_generation(queue_path, tmp_path,
                                                             compact_when_emptied):
    _, consumer = linked_then_compacted(queue_path, tmp_path)
    FileQueue(queue_path).put("b")
    assert consumer.get() == "b"


def test_a_missing_data_file_counts_as_replaced(queue_path, compact_when_emptied):
    queue = FileQueue(queue_path)
    queue.put("a")
    moved = queue_path.with_name("moved-away.json")
    os.rename(queue_path, moved)  # the descriptor's file lives on under another name
    with pytest.raises(CorruptQueueError, match="it is missing") as raised:
        queue.put("b")  # it must not go on appending to the moved file
    assert raised.value.path == queue_path
    assert moved.read_bytes().count(b"\n") == 2  # the header and "a": nothing appended


def test_a_claim_after_another_process_compacted_the_ledger_is_recorded_in_the_live_log(
        queue_path, tmp_path, monkeypatch):
    monkeypatch.setattr(ledger, "COMPACT_MIN_BYTES", 0)  # compact once history is 4x the state
    clock = FakeClock()
    first, second = FileQueue(queue_path, clock=clock), FileQueue(queue_path, clock=clock)
    first.put_many([f"done-{n}" for n in range(5)] + ["x", "y"])
    for _ in range(4):
        first.ack(first.claim(lease=30.0))
    second.stats()  # the second process has the ledger open
    os.link(queue_path.with_name("tasks.json.claims"), tmp_path / "backup-claims")
    first.ack(first.claim(lease=30.0))  # 10 records for 2 live: the ledger is compacted
    assert second.claim(lease=30.0).item == "x"
    clock.advance(60.0)  # every lease is over
    later = FileQueue(queue_path, clock=clock)
    assert [c.item for c in iter(lambda: later.claim(lease=30.0), None)] == ["x", "y"]


def test_a_sync_file_replaced_while_another_name_links_it_is_followed(queue_path, tmp_path,
                                                                       monkeypatch):
    disk = FaultyDisk(monkeypatch)
    first = FileQueue(queue_path, fsync=True)
    first.put("a0")
    sync_path = queue_path.with_name(queue_path.name + SYNC_SUFFIX)
    os.link(sync_path, tmp_path / "backup-sync")
    os.unlink(sync_path)
    second = FileQueue(queue_path, fsync=True)  # makes a new sync file
    second.put("b1")  # returned: durable
    disk.fail("fsync", errno.EIO, file="tasks.json")
    with pytest.raises(StorageError):
        first.put("a1")  # its take-back must follow the new record and keep "b1"
    assert "b1" in list(iter(FileQueue(queue_path, fsync=True).get, None))
