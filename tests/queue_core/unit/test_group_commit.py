"""Group commit (fsync=True, journal): a change is synced after the lock, one sync serves the
changes before it (from any process, and while another process syncs), a head never becomes
durable before the data it passes, and a failed sync takes back every change it covered. The
``.sync`` file: a record counts only whole and for its own file, the published end of the
appends, the boot note, its descriptor, and a forked child's own lock."""

import errno
import fcntl
import os
import traceback
import uuid
import weakref

import pytest

from harness.disk import fileops, fsmodel
from queue_core import FileQueue, StorageError, groupcommit
from queue_core.groupcommit import DATA, HEAD, Record
from queue_core.storage import journal
from tests.support.faulty_disk import FaultyDisk


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


# -- what a commit finds: an earlier take-back, a replaced file, a sync already made ---------


def test_a_commit_whose_change_an_earlier_take_back_removed_raises_naming_the_file(
        queue_path, monkeypatch, disk):
    first = FileQueue(queue_path, fsync=True)
    second = FileQueue(queue_path, fsync=True)
    third = FileQueue(queue_path, fsync=True)
    held = Deferred(first, monkeypatch)
    first.put("a")
    held_second = Deferred(second, monkeypatch)
    second.put("b")
    disk.fail("fsync", errno.EIO, file="tasks.json")
    with pytest.raises(StorageError, match=r"cannot fsync"):
        held.release()
    third.put("c")  # its settle takes "a" and "b" back: a new epoch
    with pytest.raises(StorageError) as caught:
        held_second.release()  # its epoch is over: taken back, without a sync
    error = caught.value
    assert (error.path, error.operation, error.errno) == (queue_path, "fsync", errno.EIO)
    assert error.detail == ("a sync of this change failed (here or in another process); the "
                            "change was taken back")
    assert list(iter(third.get, None)) == ["c"]


@pytest.fixture
def compact_when_emptied(monkeypatch):
    """A journal is compacted each time a get empties it."""
    monkeypatch.setattr(journal, "COMPACT_EMPTY_BYTES", 0)


def _a_put_whose_file_is_replaced_before_its_commit(queue_path, monkeypatch):
    """``first`` puts "a" (its sync held back); ``second`` takes it, which compacts the
    journal into a new file, and puts "b", which records the new file in ``.sync``."""
    first = FileQueue(queue_path, fsync=True)
    second = FileQueue(queue_path, fsync=True)
    held = Deferred(first, monkeypatch)
    first.put("a")
    old_inode = os.stat(queue_path).st_ino
    assert second.get() == "a"
    second.put("b")
    assert os.stat(queue_path).st_ino != old_inode
    return held, second


def test_a_change_whose_file_a_compaction_replaced_still_syncs_the_old_file(
        queue_path, monkeypatch, compact_when_emptied):
    held, second = _a_put_whose_file_is_replaced_before_its_commit(queue_path, monkeypatch)
    synced = counting_fsyncs(monkeypatch)
    held.release()
    assert synced == ["tasks.json (deleted)"]  # in case the new file does not last
    assert second.get() == "b"


def test_a_failed_sync_of_a_replaced_file_names_the_file(queue_path, monkeypatch, disk,
                                                         compact_when_emptied):
    held, _ = _a_put_whose_file_is_replaced_before_its_commit(queue_path, monkeypatch)
    disk.fail("fsync", errno.EIO, file="tasks.json (deleted)")
    with pytest.raises(StorageError, match=r"cannot fsync .*tasks\.json: \[EIO\]"):
        held.release()


def test_a_sync_covers_the_appends_that_other_processes_completed_before_it(queue_path,
                                                                          monkeypatch):
    first = FileQueue(queue_path, fsync=True)
    second = FileQueue(queue_path, fsync=True)
    held = Deferred(first, monkeypatch)
    first.put("a")
    held_second = Deferred(second, monkeypatch)
    second.put("b")  # appended after "a": complete when the sync of "a" begins
    synced = counting_fsyncs(monkeypatch)
    held.release()
    assert synced_mark(first, DATA).synced == os.path.getsize(queue_path)
    held_second.release()  # "b" is durable already
    assert synced == ["tasks.json"]


def test_a_commit_that_a_sync_already_covered_takes_no_lock(queue_path, monkeypatch):
    first = FileQueue(queue_path, fsync=True)
    second = FileQueue(queue_path, fsync=True)
    held = Deferred(first, monkeypatch)
    first.put("a")
    second.put("b")  # its sync covers "a"
    syncing = groupcommit.SyncFile(queue_path)  # another process's sync is running ...

    def no_lock(operation):
        raise AssertionError(f"the commit took the sync lock ({operation})")

    with syncing.locked(), monkeypatch.context() as patch:
        spy_sync_locks(patch, before=no_lock)
        held.release()  # ... and "a" need not wait for it
    syncing.close()


def spy_sync_locks(monkeypatch, before=None):
    """The operations of the flock calls on a ``.sync`` file from now on; ``before(operation)``
    runs before each."""
    operations = []
    real = fcntl.flock

    def flock(fd, operation):
        if _is_sync_file(fd):
            operations.append(operation)
            if before is not None:
                before(operation)
        return real(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock)
    return operations


def _is_sync_file(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}").endswith(".sync")
    except (OSError, TypeError):
        return False


def in_child(work):
    """Run ``work()`` in a forked process and wait for it; AssertionError if it failed."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child process failed"


def test_a_commit_finds_under_the_lock_that_another_process_synced_its_change(queue_path,
                                                                            monkeypatch):
    q = FileQueue(queue_path, fsync=True)
    held = Deferred(q, monkeypatch)
    q.put("a")
    other = []

    def another_process_puts_first(operation):
        if operation == fcntl.LOCK_EX | fcntl.LOCK_NB and not other:
            other.append("b")  # between the first look and the lock: its sync covers "a"
            in_child(lambda: FileQueue(queue_path, fsync=True).put("b"))

    spy_sync_locks(monkeypatch, before=another_process_puts_first)
    synced = counting_fsyncs(monkeypatch)
    held.release()
    assert other == ["b"]
    assert synced == []  # no sync of its own
    assert list(iter(q.get, None)) == ["a", "b"]


class SyncInProgress:
    """Another process that holds the sync lock, as while it syncs, until ``end()``; it then
    records ``ticket``'s change as synced (``cover``) or not."""

    def __init__(self, queue_path, ticket, *, cover):
        ready_r, ready_w = os.pipe()
        go_r, self._go = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                sync = groupcommit.SyncFile(queue_path)
                with sync.locked():
                    os.write(ready_w, b"!")
                    os.read(go_r, 1)
                    if cover:
                        os.fsync(ticket.fd)
                        record = sync.read(ticket.slot, ticket.key)
                        sync.write(ticket.slot, record._replace(synced=ticket.mark))
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(ready_w)
        os.close(go_r)
        assert os.read(ready_r, 1) == b"!"
        os.close(ready_r)

    def end(self):
        """Let it finish its sync (once), and wait for it."""
        if self._go is not None:
            os.write(self._go, b"!")
            os.close(self._go)
            self._go = None
            _, status = os.waitpid(self.pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, "the syncing process failed"


def _commit_while_another_process_syncs(queue_path, monkeypatch, *, cover):
    """A commit that comes while another process syncs: the fsyncs and yields it made itself."""
    q = FileQueue(queue_path, fsync=True)
    held = Deferred(q, monkeypatch)
    q.put("a")
    [ticket] = held.tickets
    other = SyncInProgress(queue_path, ticket, cover=cover)
    try:
        # When the commit is about to wait, the other sync ends.
        locks = spy_sync_locks(monkeypatch, before=lambda operation: (
            None if operation & (fcntl.LOCK_NB | fcntl.LOCK_UN) else other.end()))
        yields = []
        real_yield = os.sched_yield
        monkeypatch.setattr(os, "sched_yield", lambda: yields.append(1) or real_yield())
        synced = counting_fsyncs(monkeypatch)
        held.release()
    finally:
        other.end()
    locks = locks[:]  # before synced_mark's own
    assert locks[:2] == [fcntl.LOCK_EX | fcntl.LOCK_NB, fcntl.LOCK_SH]  # it waited, shared
    assert synced_mark(q, DATA).synced == os.path.getsize(queue_path)
    return synced, yields, locks


def test_a_commit_that_waited_for_another_process_sync_which_covered_it_syncs_nothing(
        queue_path, monkeypatch):
    synced, yields, locks = _commit_while_another_process_syncs(queue_path, monkeypatch,
                                                                cover=True)
    assert (synced, yields) == ([], [])
    assert locks == [fcntl.LOCK_EX | fcntl.LOCK_NB, fcntl.LOCK_SH, fcntl.LOCK_UN]  # never alone


def test_a_commit_that_waited_for_another_process_sync_which_did_not_cover_it_syncs(
        queue_path, monkeypatch):
    synced, yields, _ = _commit_while_another_process_syncs(queue_path, monkeypatch,
                                                            cover=False)
    assert synced == ["tasks.json"]
    assert yields == [1]  # the others it waited with may write their changes first


def test_a_damaged_record_starts_over_in_an_epoch_of_its_own(queue_path, monkeypatch):
    first = FileQueue(queue_path, fsync=True)
    second = FileQueue(queue_path, fsync=True)
    held = Deferred(first, monkeypatch)
    first.put("a")
    sync_path = queue_path.with_name("tasks.json.sync")
    raw = bytearray(sync_path.read_bytes())
    raw[40] ^= 1  # the data record, in its synced mark: unreadable
    sync_path.write_bytes(bytes(raw))
    second.put("b")  # nothing known synced: it syncs everything and records it anew
    # What the damaged record said is unknown: "a" might have been taken back before the
    # damage (and its bytes reused), so its commit cannot claim it durable, nor say it was
    # taken back: it raises with its outcome unknown. Here what it wrote stays (it was synced).
    with pytest.raises(StorageError, match="may have happened") as raised:
        held.release()
    assert raised.value.outcome_unknown
    assert list(iter(second.get, None)) == ["a", "b"]
    assert synced_mark(second, DATA).synced == os.path.getsize(queue_path)


def test_a_commit_nobody_waits_with_does_not_give_up_the_processor(queue_path, monkeypatch):
    q = FileQueue(queue_path, fsync=True)
    yields = []
    monkeypatch.setattr(os, "sched_yield", lambda: yields.append(1))
    q.put("a")
    assert yields == []
    assert synced_mark(q, DATA).synced == os.path.getsize(queue_path)


def test_a_failed_head_sync_whose_failure_cannot_be_recorded_still_gives_back_its_item(
        queue_path, disk, monkeypatch):
    q = FileQueue(queue_path, fsync=True)
    q.put_many(["a", "b"])
    disk.fail("fsync", errno.EIO, file="tasks.json.head")
    fail_next_record_write(monkeypatch)  # the record of the failed head sync
    with pytest.raises(StorageError, match=r"cannot fsync .*tasks\.json\.head: \[EIO\]"):
        q.get()
    assert list(iter(q.get, None)) == ["a", "b"]


def test_the_first_sync_of_a_new_queue_that_fails_names_the_file(queue_path, disk):
    disk.fail("fsync", errno.EIO, file="tasks.json")
    with pytest.raises(StorageError, match=r"cannot fsync .*tasks\.json: \[EIO\]"):
        FileQueue(queue_path, fsync=True)
    q = FileQueue(queue_path, fsync=True)  # the queue opens once the disk works
    q.put("a")
    assert q.get() == "a"


def test_a_sync_file_that_cannot_be_opened_fails_the_open_naming_it(queue_path):
    sync_path = queue_path.with_name("tasks.json.sync")
    sync_path.mkdir(parents=True)
    with pytest.raises(StorageError) as caught:
        FileQueue(queue_path, fsync=True)
    error = caught.value
    assert (error.path, error.operation, error.errno) == (sync_path, "open", errno.EISDIR)


# -- the .sync file's records: what a reader trusts --------------------------------------------


@pytest.fixture
def sync_file(tmp_path):
    sync = groupcommit.SyncFile(tmp_path / "tasks.json")
    yield sync
    sync.close()


KEY = groupcommit.key_of("0123456789abcdef", 3, 1234)
#: The keys of other files: another queue, generation or inode.
OTHER_KEYS = [KEY._replace(queue_id=b"fedcba9876543210"), KEY._replace(generation=4),
              KEY._replace(inode=1235)]


def test_a_record_is_read_back_whole_by_another_process_for_its_own_file_only(sync_file):
    record = Record(KEY, epoch=2, synced=100, failed=0, state=(3, 120))
    with sync_file.locked():
        sync_file.write(HEAD, record)
    reader = groupcommit.SyncFile(sync_file.path.with_suffix(""))
    with reader.locked():
        assert reader.read(HEAD, KEY) == record
        assert reader.read(DATA, KEY) is None  # the other slot holds nothing yet
        for other in OTHER_KEYS:
            assert reader.read(HEAD, other) is None
    reader.close()


@pytest.mark.parametrize("damage", ["a changed byte", "cut short", "empty"])
def test_a_damaged_or_half_written_record_means_nothing_is_known_synced(sync_file, damage):
    record = Record(KEY, epoch=1, synced=100, failed=0)
    with sync_file.locked():
        sync_file.write(DATA, record)
    raw = bytearray(sync_file.path.read_bytes())
    if damage == "a changed byte":
        raw[40] ^= 1  # in the synced mark: the crc no longer matches
    else:
        del raw[60 if damage == "cut short" else 0:]
    sync_file.path.write_bytes(bytes(raw))
    reader = groupcommit.SyncFile(sync_file.path.with_suffix(""))
    with reader.locked():
        assert reader.read(DATA, KEY) is None
    reader.close()


def test_peek_gives_both_records_of_the_queue_files_unless_a_failure_is_pending(queue_path):
    q = FileQueue(queue_path, fsync=True)
    q.put("a")
    data_key, head_key = q._storage._data_key(), q._storage._head_key()
    sync = groupcommit.SyncFile(queue_path)  # another process's view
    data, head = sync.peek(data_key, head_key)
    assert (data.key, head.key) == (data_key, head_key)
    assert data.synced == os.path.getsize(queue_path)
    for other in (data_key._replace(inode=data_key.inode + 1), head_key):
        assert sync.peek(other, head_key) is None
        assert sync.peek(data_key, other._replace(generation=other.generation + 1)) is None
    with sync.locked():
        sync.write(HEAD, head._replace(failed=head.synced + 1))
    assert sync.peek(data_key, head_key) is None
    with sync.locked():
        sync.write(HEAD, head)
        sync.write(DATA, data._replace(failed=data.synced + 1))
    assert sync.peek(data_key, head_key) is None
    sync.close()


def test_a_failure_this_process_could_not_record_counts_for_its_own_file_only(tmp_path, disk):
    path = tmp_path / "tasks.json"
    path.write_bytes(b"x" * 100)
    fd = os.open(path, os.O_RDWR)
    sync = groupcommit.SyncFile(path)
    with sync.locked():
        record = sync.begin(DATA, KEY, lambda: (60, (0, 0)), fd, path)
    disk.fail("fsync", errno.EIO, file="tasks.json")
    disk.fail("pwrite", errno.EIO, file="tasks.json.sync")  # the failure's record
    ticket = groupcommit.Ticket(DATA, KEY, record.epoch, 100, os.dup(fd), path)
    with pytest.raises(StorageError, match=r"cannot fsync .*tasks\.json: \[EIO\]"):
        sync.commit(ticket, lambda: (100, (0, 0)))
    with sync.locked():
        assert sync.read(DATA, KEY) == record._replace(failed=100)  # remembered here
    other_file = Record(OTHER_KEYS[1], epoch=record.epoch, synced=50)
    another = groupcommit.SyncFile(path)  # a compaction replaced the file, in another process
    with another.locked():
        another.write(DATA, other_file)
    with sync.locked():
        assert sync.read(DATA, other_file.key) == other_file
    for d in (fd, ticket.fd):
        os.close(d)
    sync.close()
    another.close()


def test_a_sync_records_at_least_the_change_it_was_made_for(tmp_path):
    path = tmp_path / "tasks.json"
    path.write_bytes(b"x" * 100)
    fd = os.open(path, os.O_RDWR)
    sync = groupcommit.SyncFile(path)
    with sync.locked():
        record = sync.begin(DATA, KEY, lambda: (10, (0, 0)), fd, path)
    ticket = groupcommit.Ticket(DATA, KEY, record.epoch, 100, os.dup(fd), path)
    sync.commit(ticket, lambda: (40, (0, 0)))  # what reach() knows lags behind the change
    with sync.locked():
        assert sync.read(DATA, KEY).synced == 100
    for d in (fd, ticket.fd):
        os.close(d)
    sync.close()


def test_the_end_of_the_appends_is_published_for_its_own_file_only(sync_file):
    assert sync_file.written(KEY) == 0  # nothing published yet
    sync_file.publish_written(KEY, 4242)
    reader = groupcommit.SyncFile(sync_file.path.with_suffix(""))
    assert reader.written(KEY) == 4242
    for other in OTHER_KEYS:
        assert reader.written(other) == 0
    reader.close()


def test_a_damaged_published_end_counts_as_none(sync_file):
    sync_file.publish_written(KEY, 4242)
    raw = bytearray(sync_file.path.read_bytes())
    raw[-8] ^= 1  # in the end: the crc no longer matches
    sync_file.path.write_bytes(bytes(raw))
    assert sync_file.written(KEY) == 0


def test_a_key_holds_the_queue_id_in_16_bytes_zero_padded():
    assert groupcommit.key_of("abc", 2, 3) == groupcommit.Key(b"abc" + bytes(13), 2, 3)
    assert groupcommit.key_of(None, 0, 7).queue_id == bytes(16)  # a format without an id
    assert groupcommit.key_of("0123456789abcdefXYZ", 1, 1).queue_id == b"0123456789abcdef"


# -- the boot id: the first open after a reboot repairs --------------------------------------


@pytest.fixture
def boot_id_file(tmp_path, monkeypatch):
    path = tmp_path / "boot_id"
    monkeypatch.setattr(groupcommit, "BOOT_ID_FILE", path)
    return path


def a_boot(boot_id_file):
    """The kernel starts again: a new boot id."""
    boot_id_file.write_text(f"{uuid.uuid4()}\n")


def test_the_boot_id_is_the_kernels_and_empty_when_it_cannot_be_read(boot_id_file):
    boot = uuid.uuid4()
    boot_id_file.write_text(f"{boot}\n")
    assert groupcommit.boot_id() == str(boot).encode()
    boot_id_file.unlink()
    assert groupcommit.boot_id() == b""


def test_a_queue_counts_as_opened_since_boot_once_noted_until_the_next_boot(sync_file,
                                                                          boot_id_file):
    a_boot(boot_id_file)
    assert not sync_file.opened_since_boot()
    sync_file.note_boot()
    assert sync_file.opened_since_boot()
    other = groupcommit.SyncFile(sync_file.path.with_suffix(""))
    assert other.opened_since_boot()  # for every process
    other.close()
    a_boot(boot_id_file)
    assert not sync_file.opened_since_boot()


def test_a_boot_id_shorter_than_its_field_is_recognised_too(sync_file, boot_id_file):
    boot_id_file.write_text("a-short-boot-id\n")  # note_boot pads it to 36 bytes
    sync_file.note_boot()
    assert sync_file.opened_since_boot()


def test_with_the_boot_id_unknown_every_open_counts_as_the_first_since_boot(sync_file,
                                                                          boot_id_file):
    assert not sync_file.opened_since_boot()
    sync_file.note_boot()
    assert not sync_file.opened_since_boot()


def test_a_boot_note_that_cannot_be_written_fails_the_open_naming_the_sync_file(
        queue_path, disk, boot_id_file):
    a_boot(boot_id_file)
    FileQueue(queue_path, fsync=True).close()
    a_boot(boot_id_file)
    disk.fail("pwrite", errno.EIO, file="tasks.json.sync")
    with pytest.raises(StorageError, match=r"cannot write .*tasks\.json\.sync: \[EIO\]"):
        FileQueue(queue_path, fsync=True)


# -- descriptors and forks -------------------------------------------------------------------


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


def test_closing_a_sync_file_releases_its_descriptor_and_a_later_use_opens_it_again(tmp_path):
    before = open_descriptors()
    sync = groupcommit.SyncFile(tmp_path / "tasks.json")
    sync.publish_written(KEY, 10)
    assert open_descriptors() == before + 1
    sync.close()
    assert open_descriptors() == before
    sync.close()  # nothing more to release
    assert sync.written(KEY) == 10
    sync.close()
    assert open_descriptors() == before


def test_a_forked_child_syncs_under_a_lock_of_its_own(queue_path):
    q = FileQueue(queue_path, fsync=True)
    q.put("a")
    sync = q._storage._sync

    def child():
        # The parent was syncing at the fork: the child waits for it like any process.
        assert sync._thread_lock.acquire(blocking=False)
        with pytest.raises(BlockingIOError):
            fcntl.flock(sync._descriptor(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    with sync.locked():
        in_child(child)
    q.close()


def test_every_sync_file_starts_over_after_a_fork(tmp_path, monkeypatch):
    monkeypatch.setattr(groupcommit, "_sync_files", weakref.WeakSet())
    syncing, closed, unused = (groupcommit.SyncFile(tmp_path / f"{name}.json")
                               for name in ("syncing", "closed", "unused"))
    syncing.publish_written(KEY, 1)
    parents = os.dup(syncing._fd)  # the parent's copy of the inherited descriptor ...
    fcntl.flock(parents, fcntl.LOCK_EX)  # ... with which it is syncing
    syncing._thread_lock.acquire()  # by a thread that the child does not have
    closed.publish_written(KEY, 1)
    os.close(closed._fd)  # a descriptor already closed in the child
    groupcommit._reset_after_fork()  # what os.fork runs in the child
    assert (syncing._fd, closed._fd, unused._fd) == (None, None, None)
    assert syncing._thread_lock.acquire(blocking=False)
    syncing._thread_lock.release()
    with pytest.raises(BlockingIOError):  # its own descriptor: it waits for the parent
        fcntl.flock(syncing._descriptor(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(parents)
    with syncing.locked():
        assert syncing.written(KEY) == 1
    for sync in (syncing, closed, unused):
        sync.close()
