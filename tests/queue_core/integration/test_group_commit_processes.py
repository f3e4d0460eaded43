"""Group commit across processes: concurrent durable puts share one fsync, and each returns
only once a sync that began after its write has covered its bytes."""

import multiprocessing
import os

from queue_core import FileQueue, groupcommit
from queue_core.groupcommit import DATA

PROCESSES = 4


def _put_together(path, item, barrier, results):
    """Put ``item`` durably; the sync waits until every process has written its item. Report
    (the fsyncs of the data file made here, the end of this item's bytes, the synced mark
    after the put returned)."""
    data_fsyncs = []
    real_fsync = os.fsync

    def counting_fsync(fd):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")) == "tasks.json":
            data_fsyncs.append(fd)
        real_fsync(fd)

    os.fsync = counting_fsync
    marks = []
    real_commit = groupcommit.SyncFile.commit

    def commit_after_everyone_wrote(self, ticket, reach):
        marks.append(ticket.mark)
        barrier.wait(timeout=60)  # every item is written, none synced yet
        return real_commit(self, ticket, reach)

    groupcommit.SyncFile.commit = commit_after_everyone_wrote
    q = FileQueue(path, fsync=True)
    q.put(item)
    storage = q._storage
    with storage._sync.locked():
        synced = storage._sync.read(DATA, storage._data_key()).synced
    results.put((item, len(data_fsyncs), marks[0], synced))


def test_concurrent_durable_puts_share_one_fsync(queue_path):
    FileQueue(queue_path, fsync=True).close()  # the queue and its sync record exist
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    children = [context.Process(target=_put_together,
                                args=(queue_path, f"item-{n}", barrier, results))
                for n in range(PROCESSES)]
    for child in children:
        child.start()
    reports = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    assert sum(fsyncs for _, fsyncs, _, _ in reports) == 1  # not one per put
    for item, _, mark, synced in reports:
        assert synced >= mark, f"{item}'s put returned before its bytes were synced"
    q = FileQueue(queue_path, fsync=True)
    assert sorted(iter(q.get, None)) == [f"item-{n}" for n in range(PROCESSES)]
