"""A record of ``tasks.json.sync`` damaged while changes wait for their sync (a write of it
cut short by a full disk in another process, the file truncated or deleted): what those
changes' operations say. Where it can still be told (a head that nobody moved since the
get's own move), the operation returns as usual; where it cannot, it raises a
``StorageError`` whose ``outcome_unknown`` is true and whose message says the change may have
happened. It never raises "the queue was left as it was" while its change stays: a get that
said so had lost its item for good."""

import os

import pytest

from queue_core import FileQueue, StorageError
from queue_core.groupcommit import HEAD, SYNC_SUFFIX
from queue_core.syncrecords import RECORD_SIZE
from tests.support.held_commits import HeldCommits


def sync_path(queue_path):
    return queue_path.with_name(queue_path.name + SYNC_SUFFIX)


def tear_record(queue_path, slot):
    """What another process's write of the record, cut short, leaves: its checksum fails."""
    fd = os.open(sync_path(queue_path), os.O_RDWR)
    try:
        os.pwrite(fd, b"\xff" * 16, slot * RECORD_SIZE + 40)
    finally:
        os.close(fd)


def drained(queue_path):
    with FileQueue(queue_path, fsync=True) as queue:
        return list(iter(queue.get, None))


def says_it_may_have_happened(error):
    return (error.outcome_unknown and "may have happened" in str(error)
            and "left as it was" not in str(error))


@pytest.mark.parametrize("damage", ["torn head record", "truncated sync file"])
def test_a_get_whose_head_nobody_moved_since_returns_its_item_when_the_record_is_damaged(
        queue_path, monkeypatch, damage):
    consumer = FileQueue(queue_path, fsync=True)
    consumer.put("a")
    held = HeldCommits(consumer, monkeypatch)
    assert consumer.get() == "a"  # the head moved past "a"; the get waits for its sync
    if damage == "truncated sync file":
        os.truncate(sync_path(queue_path), 0)
    else:
        tear_record(queue_path, HEAD)
    held.release()  # the head is still the get's own: synced now, and the get returns
    assert drained(queue_path) == []


def test_a_get_whose_head_moved_on_since_cannot_be_told_and_says_it_may_have_happened(
        queue_path, monkeypatch):
    first, second = FileQueue(queue_path, fsync=True), FileQueue(queue_path, fsync=True)
    first.put_many(["a", "b"])
    held = HeldCommits(first, monkeypatch)
    assert first.get() == "a"
    held_second = HeldCommits(second, monkeypatch)
    assert second.get() == "b"  # the head moved on: a take-back may have come between
    tear_record(queue_path, HEAD)
    with pytest.raises(StorageError) as raised:
        held.release()
    assert says_it_may_have_happened(raised.value), str(raised.value)
    held_second.release()  # its own head: decided
