"""Open file descriptors: close() gives back every one, and a living queue does not pile them up.

Counted in ``/proc/self/fd``, so a leak anywhere (journal data or head, claims ledger, lock
file, the directory opened for an fsync) shows as a number that grows.
"""

import os

import pytest

from queue_core import CorruptQueueError, FileQueue, ledger
from queue_core.storage import journal

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


def use(q):
    """Every kind of change: puts, a get, claims with ack, nack, extend, dead letters."""
    for n in range(6):
        q.put(n)
    q.get()
    q.ack(q.claim())
    q.nack(q.claim())
    q.extend(q.claim(), 5)
    q.requeue_dead()
    q.size()
    q.stats()


@pytest.mark.parametrize("fsync", [False, True], ids=["no-fsync", "fsync"])
def test_close_releases_every_descriptor(queue_path, queue_format, fsync):
    before = open_descriptors()
    q = FileQueue(queue_path, format=queue_format, fsync=fsync)
    use(q)
    q.close()
    assert open_descriptors() == before


def test_a_closed_queue_opens_its_files_again_when_used(queue_path, queue_format):
    q = FileQueue(queue_path, format=queue_format)
    q.put("a")
    q.claim()
    q.close()
    assert q.size() == 0  # reads the claims flag before anything takes the lock
    q.put("b")
    assert q.stats().in_flight == 1
    assert q.get() == "b"
    q.close()


def test_compactions_and_counts_do_not_pile_up_descriptors(queue_path, queue_format,
                                                          monkeypatch):
    monkeypatch.setattr(ledger, "COMPACT_MIN_BYTES", 0)
    monkeypatch.setattr(journal, "COMPACT_MIN_BYTES", 100)
    monkeypatch.setattr(journal, "COMPACT_EMPTY_BYTES", 50)
    q = FileQueue(queue_path, format=queue_format, fsync=True)
    use(q)
    settled = open_descriptors()
    for n in range(60):
        q.put(n)
        q.size()
        q.ack(q.claim())
    assert open_descriptors() == settled
    q.close()


def test_a_corrupt_ledger_leaves_no_descriptor_open(queue_path, queue_format):
    q = FileQueue(queue_path, format=queue_format)
    q.put("a")
    q.claim()
    q.close()
    ledger.Ledger(queue_path).path.write_text("not a ledger\n")
    before = open_descriptors()
    with pytest.raises(CorruptQueueError):
        FileQueue(queue_path, format=queue_format)
    assert open_descriptors() == before
