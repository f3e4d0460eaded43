"""Group commit across take-backs: a change that a good sync made durable stays returned when a
later sync fails and its changes are taken back, also when the sync file was damaged or
replaced meanwhile; a change that a take-back removed still raises. (Queue objects of one
process, each with its own ``.sync`` descriptor, stand for processes.)"""

import errno
import os

import pytest

from queue_core import FileQueue, StorageError, groupcommit
from queue_core.groupcommit import SYNC_SUFFIX
from queue_core.syncrecords import RECORD_SIZE
from tests.queue_core.unit.test_group_commit import Deferred
from tests.support.faulty_disk import FaultyDisk


@pytest.fixture
def disk(monkeypatch):
    return FaultyDisk(monkeypatch)


def opened(queue_path, count):
    return [FileQueue(queue_path, fsync=True) for _ in range(count)]


def drained(queue_path):
    with FileQueue(queue_path, fsync=True) as queue:
        return queue.get_many(100)


def test_a_put_a_good_sync_covered_returns_when_a_later_sync_fails(queue_path, monkeypatch,
                                                                   disk):
    first, second, third = opened(queue_path, 3)
    held = Deferred(first, monkeypatch)
    first.put("a")  # written; it pauses before its commit
    second.put("b")  # its sync covers "a" too
    disk.fail("fsync", errno.EIO, file="tasks.json")
    with pytest.raises(StorageError, match="EIO"):
        third.put("c")  # taken back: the epoch moves on
    held.release()  # "a" was durable before that failure and was kept: no error
    assert drained(queue_path) == ["a", "b"]


def test_a_get_a_good_head_sync_covered_returns_when_a_later_head_sync_fails(
        queue_path, monkeypatch, disk):
    first, second, third = opened(queue_path, 3)
    first.put_many(["i1", "i2", "i3"])
    held = Deferred(first, monkeypatch)
    assert first.get() == "i1"  # the head moved; it pauses before its commit
    assert second.get() == "i2"  # its head sync covers the move of first's get
    disk.fail("fsync", errno.EIO, file="tasks.json.head")
    with pytest.raises(StorageError, match="EIO"):
        third.get()  # its item comes back: the epoch moves on
    held.release()  # "i1" was taken for good before that failure: no error
    assert drained(queue_path) == ["i3"]


def test_a_change_beyond_what_a_take_back_kept_still_raises(queue_path, monkeypatch, disk):
    first, second = opened(queue_path, 2)
    first.put("kept")
    held = Deferred(first, monkeypatch)
    first.put("a")  # not synced by anyone
    disk.fail("fsync", errno.EIO, file="tasks.json")
    with pytest.raises(StorageError, match="EIO"):
        second.put("b")  # its failed sync covered "a": both are taken back
    second.put("c")  # a new epoch's put reuses the bytes "a" had
    with pytest.raises(StorageError, match="taken back"):
        held.release()
    assert drained(queue_path) == ["kept", "c"]


def test_a_change_that_waited_through_several_take_backs_returns_if_the_first_kept_it(
        queue_path, monkeypatch, disk):
    first, second, third = opened(queue_path, 3)
    held = Deferred(first, monkeypatch)
    first.put("a")  # it pauses before its commit
    second.put("b")  # its sync covers "a"
    for name in ("c", "d"):  # two failed syncs, two take-backs, two epochs later
        disk.fail("fsync", errno.EIO, file="tasks.json")
        with pytest.raises(StorageError, match="EIO"):
            third.put(name)
    held.release()
    assert drained(queue_path) == ["a", "b"]


def test_a_change_older_than_the_epochs_a_record_remembers_says_it_may_have_happened(
        queue_path, monkeypatch, disk):
    first, second, third = opened(queue_path, 3)
    held = Deferred(first, monkeypatch)
    first.put("a")
    second.put("b")
    for n in range(groupcommit.KEPT_EPOCHS + 1):
        disk.fail("fsync", errno.EIO, file="tasks.json")
        with pytest.raises(StorageError, match="EIO"):
            third.put(n)
    with pytest.raises(StorageError, match="may have happened") as raised:
        held.release()  # unknown whether it was kept: it cannot claim it durable, nor undone
    assert raised.value.outcome_unknown
    assert drained(queue_path) == ["a", "b"]


def test_a_sync_file_deleted_while_a_queue_is_open_is_followed_to_its_replacement(
        queue_path, disk):
    first = FileQueue(queue_path, fsync=True)
    first.put("a0")
    os.unlink(queue_path.with_name(queue_path.name + SYNC_SUFFIX))
    second = FileQueue(queue_path, fsync=True)  # makes a new sync file
    second.put("b1")  # returned: durable
    disk.fail("fsync", errno.EIO, file="tasks.json")
    with pytest.raises(StorageError):
        first.put("a1")  # its take-back must not cut "b1"
    assert "b1" in drained(queue_path)


def damage_record(queue_path, slot):
    sync_path = queue_path.with_name(queue_path.name + SYNC_SUFFIX)
    raw = bytearray(sync_path.read_bytes())
    raw[slot * RECORD_SIZE + 40] ^= 1  # in its epoch: the checksum fails
    sync_path.write_bytes(bytes(raw))


def test_a_change_whose_record_was_torn_after_its_take_back_is_not_claimed_durable(
        queue_path, monkeypatch, disk):
    first, second = opened(queue_path, 2)
    first.put("kept")
    held = Deferred(first, monkeypatch)
    first.put("a")  # waits for its sync
    disk.fail("fsync", errno.EIO, file="tasks.json")
    with pytest.raises(StorageError, match="EIO"):
        second.put("b")  # the failed sync covered "a": both are taken back
    damage_record(queue_path, groupcommit.DATA)  # as a torn write of the new record leaves it
    with pytest.raises(StorageError, match="may have happened") as raised:
        held.release()  # the record says nothing: "a" must not be claimed durable
    assert raised.value.outcome_unknown  # nor said to be taken back: that is not known either
    assert drained(queue_path) == ["kept"]


def test_a_change_whose_file_a_compaction_replaced_is_still_durable_after_its_sync(
        queue_path, monkeypatch):
    first, second = opened(queue_path, 2)
    held = Deferred(first, monkeypatch)
    first.put("a")
    monkeypatch.setattr("queue_core.storage.journal.COMPACT_EMPTY_BYTES", 1)
    second.put("b")
    assert second.get_many(2) == ["a", "b"]  # empties the queue: a new file replaces it
    held.release()  # its file was replaced: synced, and it returns
