"""json-array with ``fsync=True`` under faults. A change renames a new array over the file,
then syncs the directory; when that sync fails, the change is undone. The undo must hold when
the disk fails again during it (a fault may follow the one call after a fault that is sure to
succeed): a put, get or claim that raised must have changed nothing, or say that it may have.
And a claim whose removal from the array fails must cut back only its own ledger records."""

import errno
import os

import pytest

from harness.disk import fileops
from queue_core import FileQueue, StorageError, ledger
from tests.support.fake_clock import FakeClock
from tests.support.faulty_disk import FaultyDisk


class DirectorySyncThenAnotherFault:
    """What ``harness.disk.faults`` may do: the directory sync after the rename of the new
    array fails (ENOSPC); the next file-changing call succeeds; the one after fails (EIO)."""

    def __init__(self):
        self.countdown = None

    def __call__(self, call, perform):
        if call.path is None:
            return perform()
        if self.countdown is None:
            if call.kind == "fsync" and os.path.isdir(call.path):
                self.countdown = 2
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), call.path)
            return perform()
        self.countdown -= 1
        if self.countdown == 0:
            raise OSError(errno.EIO, os.strerror(errno.EIO), call.path)
        return perform()


def opened(queue_path, clock=None):
    return FileQueue(queue_path, fsync=True, format="json-array", clock=clock or FakeClock())


def drained(queue_path, clock=None):
    with opened(queue_path, clock) as queue:
        return list(iter(queue.get, None))


def test_a_put_that_raised_is_not_in_the_queue(queue_path):
    queue = opened(queue_path)
    queue.put("kept")
    with fileops.intercept(DirectorySyncThenAnotherFault()), pytest.raises(StorageError):
        queue.put("raised")
    assert drained(queue_path) == ["kept"]


def test_a_get_that_raised_took_nothing(queue_path):
    queue = opened(queue_path)
    queue.put_many(["a", "b"])
    with fileops.intercept(DirectorySyncThenAnotherFault()), pytest.raises(StorageError):
        queue.get()
    assert drained(queue_path) == ["a", "b"]


def test_a_claim_that_raised_loses_no_item(queue_path):
    clock = FakeClock()
    queue = opened(queue_path, clock)
    queue.put_many(["first", "a", "b"])
    queue.ack(queue.claim(lease=30.0))  # the ledger exists from now on
    with fileops.intercept(DirectorySyncThenAnotherFault()), pytest.raises(StorageError):
        queue.claim(lease=30.0)
    clock.advance(60.0)  # any lease it may have left is over
    assert drained(queue_path, clock) == ["a", "b"]


def test_an_undo_that_cannot_be_done_says_the_change_may_have_happened(queue_path,
                                                                      monkeypatch):
    queue = opened(queue_path)
    queue.put("kept")
    disk = FaultyDisk(monkeypatch)
    disk.fail("fsync", errno.EIO, file=queue_path.parent.name)  # the directory sync
    disk.fail("replace", errno.EIO, file="tasks.json", after=1)  # and the undo's rename
    with pytest.raises(StorageError, match="may have happened") as raised:
        queue.put("maybe")
    assert raised.value.outcome_unknown
    assert drained(queue_path) == ["kept", "maybe"]  # here it did happen


def test_a_claim_whose_removal_may_have_happened_keeps_its_ledger_record(queue_path,
                                                                         monkeypatch):
    clock = FakeClock()
    queue = opened(queue_path, clock)
    queue.put_many(["first", "a", "b"])
    queue.ack(queue.claim(lease=30.0))  # the ledger exists from now on
    disk = FaultyDisk(monkeypatch)
    disk.fail("fsync", errno.EIO, file=queue_path.parent.name)  # the directory sync
    disk.fail("replace", errno.EIO, file="tasks.json", after=1)  # and the undo's rename
    with pytest.raises(StorageError) as raised:
        queue.claim(lease=30.0)  # "a" left the array: its record must stay
    assert raised.value.outcome_unknown
    clock.advance(60.0)  # its lease is over: "a" comes back
    assert drained(queue_path, clock) == ["a", "b"]


def test_a_claim_whose_removal_fails_after_a_ledger_compaction_keeps_the_other_claims(
        queue_path, monkeypatch):
    clock = FakeClock()
    queue = FileQueue(queue_path, format="json-array", clock=clock)  # no fsync needed
    queue.put_many(["a", "b", "c"])
    held = queue.claim(lease=30.0)
    for _ in range(20):
        held = queue.extend(held, 30.0)  # the ledger is long and mostly history
    disk = FaultyDisk(monkeypatch)
    disk.fail("write", errno.EIO, file="tasks.json.claims", after=1)  # "b"'s settled record
    assert queue.claim(lease=30.0).item == "b"  # returns; the next operation settles it
    monkeypatch.setattr(ledger, "COMPACT_MIN_BYTES", 0)  # that settle's append compacts
    disk.fail("replace", errno.EIO, file="tasks.json")  # "c"'s removal from the array fails
    with pytest.raises(StorageError):
        queue.claim(lease=30.0)
    clock.advance(60.0)  # the leases of "a" and "b" are over: both come back
    left = FileQueue(queue_path, format="json-array", clock=clock)
    assert list(iter(left.get, None)) == ["a", "b", "c"]


def no_hard_links(monkeypatch):
    def link(source, target, **kwargs):
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "link", link)


def test_without_hard_links_a_failed_directory_sync_is_undone_by_writing_back(queue_path,
                                                                             monkeypatch):
    queue = opened(queue_path)
    queue.put("kept")
    no_hard_links(monkeypatch)
    disk = FaultyDisk(monkeypatch)
    disk.fail("fsync", errno.EIO, file=queue_path.parent.name)  # the directory sync, once
    with pytest.raises(StorageError) as raised:
        queue.put("raised")
    assert not raised.value.outcome_unknown
    assert drained(queue_path) == ["kept"]
    disk.fail("fsync", errno.EIO, file=queue_path.parent.name, times=2)  # and the undo's
    with pytest.raises(StorageError, match="may have happened"):
        queue.put("maybe")
