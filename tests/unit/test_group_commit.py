"""Group commit (fsync=True, journal): a change is synced after the lock, one sync serves the
changes before it, a head never becomes durable before the data it passes, and a failed sync
takes back every change it covered."""

import errno
import os

import pytest

from harness import fileops, fsmodel
from queue_core import FileQueue, StorageError, groupcommit
from queue_core.groupcommit import DATA, HEAD
from queue_core.storage import journal

from .faulty_disk import FaultyDisk


@pytest.fixture
def disk(monkeypatch):
    return FaultyDisk(monkeypatch)


class Deferred:
    """Holds back ``queue``'s commits (the part of an operation after the lock), so that
    another queue object can act in between, as another process would."""

    def __init__(self, queue, monkeypatch):
        self.queue = queue
        self.tickets = []
        storage = queue._storage
        self._commit = storage.commit
        monkeypatch.setattr(storage, "commit", self._hold)

    def _hold(self):
        self.tickets += storage_waiting(self.queue)

    def release(self):
        """Run the held commits (``StorageError`` as the operation would raise it)."""
        storage = self.queue._storage
        storage._waiting.tickets = self.tickets
        self.tickets = []
        self._commit()


def storage_waiting(queue):
    return queue._storage._take_waiting()


def synced_mark(queue, slot):
    storage = queue._storage
    with storage._sync.locked():
        key = storage._data_key() if slot == DATA else storage._head_key()
        return storage._sync.read(slot, key)


def counting_fsyncs(monkeypatch):
    """The base names of the files fsynced from now on."""
    names = []
    real = os.fsync

    def fsync(fd):
        names.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return names


def test_one_sync_serves_every_change_written_before_it(queue_path, monkeypatch):
    first = FileQueue(queue_path, fsync=True)
    second = FileQueue(queue_path, fsync=True)
    held = Deferred(first, monkeypatch)
    synced = counting_fsyncs(monkeypatch)
    first.put("a")  # written, its sync held back
    second.put("b")  # written after "a": its sync covers both
    assert synced == ["tasks.json"]
    held.release()  # "a" is durable already: no second sync
    assert synced == ["tasks.json"]
    assert synced_mark(first, DATA).synced == os.path.getsize(queue_path)
    assert [first.get(), first.get()] == ["a", "b"]


def test_a_put_returns_only_after_its_own_bytes_are_synced(queue_path, monkeypatch):
    q = FileQueue(queue_path, fsync=True)
    synced = counting_fsyncs(monkeypatch)
    for n in range(3):
        q.put(n)
        assert synced_mark(q, DATA).synced == os.path.getsize(queue_path)
    assert synced == ["tasks.json"] * 3  # nobody else synced for it


def test_gets_share_the_sync_of_the_head(queue_path, monkeypatch):
    first = FileQueue(queue_path, fsync=True)
    second = FileQueue(queue_path, fsync=True)
    first.put_many(["a", "b"])
    held = Deferred(first, monkeypatch)
    synced = counting_fsyncs(monkeypatch)
    assert first.get() == "a"  # head moved, its sync held back
    assert second.get() == "b"
    held.release()
    assert synced == ["tasks.json.head"]  # the data was durable already; one head sync


def test_a_failed_sync_takes_back_every_put_it_covered(queue_path, monkeypatch, disk):
    first = FileQueue(queue_path, fsync=True)
    second = FileQueue(queue_path, fsync=True)
    first.put("kept")
    held = Deferred(first, monkeypatch)
    first.put("a")
    held_second = Deferred(second, monkeypatch)
    second.put("b")
    disk.fail("fsync", errno.EIO, file="tasks.json")
    with pytest.raises(StorageError, match=r"cannot fsync .*tasks\.json: \[EIO\]"):
        held.release()
    with pytest.raises(StorageError, match=r"a sync of this change failed .* taken back"):
        held_second.release()
    assert [second.get(), second.get()] == ["kept", None]  # neither "a" nor "b"
    first.put("c")  # the queue works on once the disk does
    assert second.get() == "c"


def test_a_failed_head_sync_gives_back_every_item_its_gets_took(queue_path, monkeypatch, disk):
    first = FileQueue(queue_path, fsync=True)
    second = FileQueue(queue_path, fsync=True)
    first.put_many(["a", "b", "c"])
    held = Deferred(first, monkeypatch)
    assert first.get() == "a"
    held_second = Deferred(second, monkeypatch)
    assert second.get() == "b"
    disk.fail("fsync", errno.EIO, file="tasks.json.head")
    with pytest.raises(StorageError, match=r"tasks\.json\.head"):
        held.release()
    with pytest.raises(StorageError, match="taken back"):
        held_second.release()
    assert list(iter(FileQueue(queue_path, fsync=True).get, None)) == ["a", "b", "c"]


def fail_next_record_write(monkeypatch):
    """The next record written to tasks.json.sync fails with EIO."""
    real = groupcommit.SyncFile.write
    armed = [True]

    def write(self, slot, record):
        if armed[0]:
            armed[0] = False
            raise StorageError(self.path, "write", errno.EIO)
        real(self, slot, record)

    monkeypatch.setattr(groupcommit.SyncFile, "write", write)


def test_a_failure_is_taken_back_even_when_it_cannot_be_recorded(queue_path, disk,
                                                                 monkeypatch):
    q = FileQueue(queue_path, fsync=True)
    q.put("kept")
    disk.fail("fsync", errno.EIO, file="tasks.json")
    fail_next_record_write(monkeypatch)  # the record of the failed sync
    with pytest.raises(StorageError, match=r"cannot fsync .*tasks\.json: \[EIO\]"):
        q.put("lost")
    assert list(iter(q.get, None)) == ["kept"]


def test_a_good_sync_whose_record_cannot_be_written_fails_and_is_taken_back(queue_path,
                                                                           monkeypatch):
    q = FileQueue(queue_path, fsync=True)
    q.put("kept")
    fail_next_record_write(monkeypatch)  # the record of the good sync
    with pytest.raises(StorageError, match=r"cannot write .*tasks\.json\.sync"):
        q.put("unrecorded")
    assert list(iter(q.get, None)) == ["kept"]
    q.put("after")
    assert q.get() == "after"


def test_a_put_whose_append_cannot_be_published_is_cut_back(queue_path, disk):
    q = FileQueue(queue_path, fsync=True)
    q.put("kept")
    before = queue_path.read_bytes()
    disk.fail("pwrite", errno.EIO, file="tasks.json.sync")
    with pytest.raises(StorageError, match=r"tasks\.json\.sync"):
        q.put("unpublished")
    assert queue_path.read_bytes() == before
    assert list(iter(q.get, None)) == ["kept"]


def test_a_sync_reaches_only_appends_that_were_complete(queue_path, monkeypatch):
    first = FileQueue(queue_path, fsync=True)
    held = Deferred(first, monkeypatch)
    first.put("a")
    end_of_a = len(queue_path.read_bytes())
    with open(queue_path, "ab") as half_written:  # another put_many, copied up to a line end
        half_written.write(b'2 1.0 "x"\n')
    held.release()
    # A take-back would cut to this mark: inside the batch, it would keep half of it.
    assert synced_mark(first, DATA).synced == end_of_a


# -- a head is never durable before the data it passes: the power-loss model ------------------


def _record_a_get_of_an_unsynced_put(directory, monkeypatch):
    """``first`` puts "x" and holds its sync back; ``second`` gets "x". The recorded calls,
    and the call index at which the get returned."""
    recorder = fsmodel.Recorder(directory)
    calls = []

    def hook(call, perform):
        if call.path is None:
            return perform()
        calls.append(call)
        return recorder.perform(len(calls) - 1, call, perform)

    path = directory / "tasks.json"
    with fileops.intercept(hook):
        first = FileQueue(path, fsync=True)
        second = FileQueue(path, fsync=True)
        first.put("before")
        Deferred(first, monkeypatch)
        first.put("x")
        assert second.get() == "before"
        begun = len(calls)
        assert second.get() == "x"
        returned = len(calls)
    return recorder.ops, begun, returned


def _broken_states(ops, begun, returned, tmp_path):
    """Every power-loss state from the get's start on that does not open, or holds "x" after
    the get returned."""
    bad = []
    states = 0
    for point in range(begun, returned + 1):
        for label, files in fsmodel.power_loss_states(ops, point):
            states += 1
            state = tmp_path / f"state-{states}"
            fsmodel.materialize(files, state)
            try:
                items = list(iter(FileQueue(state / "tasks.json", fsync=True).get, None))
            except Exception as error:  # any failure to open is the finding
                bad.append(f"before call {point} ({label}): {type(error).__name__}: {error}")
                continue
            if point == returned and "x" in items:
                bad.append(f"before call {point} ({label}): 'x' is back after its get")
    return bad


def test_a_power_loss_never_leaves_a_head_beyond_the_durable_data(tmp_path, monkeypatch):
    directory = tmp_path / "queue"
    directory.mkdir()
    ops, begun, returned = _record_a_get_of_an_unsynced_put(directory, monkeypatch)
    assert _broken_states(ops, begun, returned, tmp_path / "states") == []


def test_the_power_loss_check_catches_a_head_written_before_its_data_is_synced(tmp_path,
                                                                             monkeypatch):
    # The wrong order: the get's sync of the data it passes waits for the commit after the
    # lock, like the head's, instead of coming before the head is written.
    def deferred_data_sync(self, ticket):
        if ticket.slot == HEAD:
            return original(self, ticket)
        self._wait_for_commit(ticket)

    original = journal.JournalStorage._commit_now
    monkeypatch.setattr(journal.JournalStorage, "_commit_now", deferred_data_sync)
    directory = tmp_path / "queue"
    directory.mkdir()
    ops, begun, returned = _record_a_get_of_an_unsynced_put(directory, monkeypatch)
    bad = _broken_states(ops, begun, returned, tmp_path / "states")
    assert any("beyond the end of tasks.json" in b for b in bad), bad


def test_a_power_loss_that_keeps_a_later_put_and_loses_an_earlier_one_leaves_a_queue_that_opens(
        tmp_path, monkeypatch):
    directory = tmp_path / "queue"
    directory.mkdir()
    recorder = fsmodel.Recorder(directory)
    calls = []

    def hook(call, perform):
        if call.path is None:
            return perform()
        calls.append(call)
        return recorder.perform(len(calls) - 1, call, perform)

    path = directory / "tasks.json"
    with fileops.intercept(hook):
        first = FileQueue(path, fsync=True)
        second = FileQueue(path, fsync=True)
        first.put("kept")
        Deferred(first, monkeypatch)
        Deferred(second, monkeypatch)
        first.put("a" * 5000)  # neither put returns: their syncs are held back
        second.put("b")
    monkeypatch.setattr(groupcommit, "boot_id", lambda: b"the-next-boot")
    holes = 0
    for n, (label, files) in enumerate(fsmodel.power_loss_states(recorder.ops, len(calls))):
        holes += b"\0" in files.get("tasks.json", b"")
        fsmodel.materialize(files, tmp_path / f"state-{n}")
        q = FileQueue(tmp_path / f"state-{n}" / "tasks.json", fsync=True)
        items = list(iter(q.get, None))
        assert items[0] == "kept" and items[1:] in ([], ["a" * 5000], ["a" * 5000, "b"]), label
        q.put("after")
        assert q.get() == "after"
    assert holes, "a state with a hole before the later put"
