"""A full disk, an I/O error, a read-only file system, a short write: every file-changing call
that fails raises a ``StorageError`` naming the file, the call and the errno, and leaves the
queue as it was; the same object and new openers keep working once the disk is healed."""

import errno
import os
import pickle

import pytest

from queue_core import FileQueue, QueueError
from queue_core.errors import QueueFullError, StorageError
from queue_core.ledger import Ledger
from queue_core.storage import journal
from tests.support.fake_clock import FakeClock
from tests.support.faulty_disk import ERRNOS, FaultyDisk


@pytest.fixture
def disk(monkeypatch):
    return FaultyDisk(monkeypatch)


@pytest.fixture
def clock():
    return FakeClock()


def snapshot(directory):
    """Every file's bytes, by name."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def data_write(queue_format):
    """The call that stores a put: an append (journal) or a new file's contents (json-array)."""
    return ("write", "tasks.json") if queue_format == "journal" else ("write", ".tasks.json.tmp-*")


@pytest.mark.parametrize("kind", ["short", *ERRNOS])
def test_a_put_that_cannot_be_written_raises_and_leaves_the_queue_as_it_was(
        queue_path, queue_format, disk, kind):
    q = FileQueue(queue_path, format=queue_format)
    q.put("before")
    before = snapshot(queue_path.parent)
    call, name = data_write(queue_format)
    code = errno.ENOSPC if kind == "short" else ERRNOS[kind]
    disk.fail(call, "short" if kind == "short" else code, file=name)
    with pytest.raises(StorageError) as caught:
        q.put("lost")
    error = caught.value
    assert error.errno == code
    assert isinstance(error, QueueFullError) == (code in (errno.ENOSPC, errno.EDQUOT))
    assert isinstance(error, QueueError)
    assert "tasks.json" in str(error) and errno.errorcode[code] in str(error)
    assert snapshot(queue_path.parent) == before, "a partial append is cut back"
    q.put("after")
    assert FileQueue(queue_path, format=queue_format).size() == 2
    assert [q.get(), q.get(), q.get()] == ["before", "after", None]


def test_puts_on_a_full_disk_fail_until_space_is_freed(queue_path, queue_format, disk):
    q = FileQueue(queue_path, format=queue_format)
    call, name = data_write(queue_format)
    disk.fail(call, "short", file=name, times=None)
    for n in range(5):
        with pytest.raises(QueueFullError):
            q.put(n)
    disk.heal()
    q.put("fits")
    assert list(iter(q.get, None)) == ["fits"]


def test_a_put_whose_fsync_fails_is_cut_back(queue_path, queue_format, disk):
    q = FileQueue(queue_path, format=queue_format, fsync=True)
    before = snapshot(queue_path.parent)
    disk.fail("fsync", errno.EIO)
    with pytest.raises(StorageError, match="fsync"):
        q.put("x")
    after = snapshot(queue_path.parent)
    for files in (before, after):  # the journal's group commit record notes the take-back
        files.pop("tasks.json.sync", None)
    assert after == before
    assert q.get() is None


@pytest.mark.parametrize("operation", ["put", "get"])
def test_a_json_array_change_whose_directory_sync_fails_is_undone(queue_path, disk, operation):
    q = FileQueue(queue_path, format="json-array", fsync=True)
    q.put("a")
    before = queue_path.read_bytes()
    disk.fail("fsync", errno.EIO, file=queue_path.parent.name)
    with pytest.raises(StorageError, match="fsync"):
        q.put("b") if operation == "put" else q.get()
    assert queue_path.read_bytes() == before
    assert [q.get(), q.get()] == ["a", None]


def test_a_get_whose_head_cannot_be_written_keeps_its_item_first(queue_path, disk):
    q = FileQueue(queue_path, format="journal")
    q.put("a")
    q.put("b")
    disk.fail("pwrite", "short", file="tasks.json.head")
    with pytest.raises(QueueFullError, match=r"tasks\.json\.head"):
        q.get()
    assert FileQueue(queue_path, format="journal").get() == "a"
    assert q.get() == "b"


@pytest.mark.parametrize("kind", ["short", errno.EIO])
def test_a_claim_whose_ledger_record_does_not_land_changes_nothing(
        queue_path, queue_format, disk, clock, kind):
    q = FileQueue(queue_path, format=queue_format, clock=clock)
    q.put("a")
    q.claim()  # the ledger exists now
    q.put("b")
    before = snapshot(queue_path.parent)
    disk.fail("write", kind, file="tasks.json.claims")
    with pytest.raises(StorageError, match=r"tasks\.json\.claims"):
        q.claim()
    assert snapshot(queue_path.parent) == before
    other = FileQueue(queue_path, format=queue_format, clock=clock)
    assert other.stats()[:2] == (1, 1), "no CorruptQueueError, 'b' still waiting"
    assert q.claim().item == "b", "the same object reads on from where it was"
    assert other.claim() is None


def test_a_claim_whose_storage_removal_fails_gives_its_ledger_record_back(
        queue_path, disk, clock):
    q = FileQueue(queue_path, format="journal", clock=clock)
    q.put("a")
    q.put("b")
    disk.fail("pwrite", errno.EIO, file="tasks.json.head")
    with pytest.raises(StorageError):
        q.claim(lease=10)
    assert q.stats()[:2] == (2, 0), "'a' is not held by a claim nobody got"
    assert q.claim(lease=10).item == "a"
    assert FileQueue(queue_path, format="journal", clock=clock).get() == "b"


def storage_removal(queue_format):
    """The call that moves a claimed item out of the storage: the head's slot (journal) or
    the rename of the shorter array (json-array)."""
    return ("pwrite", "tasks.json.head") if queue_format == "journal" else ("replace",
                                                                            "tasks.json")


def test_a_claim_whose_removal_fails_and_whose_record_cannot_be_cut_back_changes_nothing(
        queue_path, queue_format, disk, clock):
    q = FileQueue(queue_path, format=queue_format, clock=clock)
    q.put("a")
    q.put("b")
    call, name = storage_removal(queue_format)
    disk.fail(call, errno.EIO, file=name)
    disk.fail("ftruncate", errno.EIO, file="tasks.json.claims")  # the undo fails too
    with pytest.raises(StorageError):
        q.claim(lease=10)
    assert ("ftruncate", "tasks.json.claims") in disk.injected
    disk.heal()
    other = FileQueue(queue_path, format=queue_format, clock=clock)
    assert other.stats()[:2] == (2, 0), "'a' is not held by the claim that raised"
    assert q.claim(lease=10).item == "a", "'a' is still first in line"
    assert other.get() == "b"
    assert other.get() is None


def test_a_failed_claim_is_taken_back_even_when_its_record_would_compact_the_ledger(
        queue_path, queue_format, disk, clock, monkeypatch):
    import queue_core.ledger as ledger_module
    monkeypatch.setattr(ledger_module, "COMPACT_MIN_BYTES", 0)
    monkeypatch.setattr(ledger_module, "COMPACT_RATIO", 0)  # every change compacts
    q = FileQueue(queue_path, format=queue_format, clock=clock)
    for item in ("a", "b"):
        q.put(item)
    q.put("c")
    q.ack(q.claim())  # the ledger exists
    call = ("pwrite", "tasks.json.head") if queue_format == "journal" else data_write(queue_format)
    disk.fail(call[0], errno.EIO, file=call[1])
    with pytest.raises(StorageError):
        q.claim(lease=10)
    assert q.stats()[:2] == (2, 0), "the item is not held by a claim nobody got"
    assert q.claim(lease=10).item == "b"


def test_an_ack_that_cannot_be_written_leaves_the_claim_held(queue_path, queue_format, disk,
                                                            clock):
    q = FileQueue(queue_path, format=queue_format, clock=clock)
    q.put("a")
    claim = q.claim(lease=10)
    disk.fail("write", errno.ENOSPC, file="tasks.json.claims")
    with pytest.raises(QueueFullError):
        q.ack(claim)
    assert q.stats().in_flight == 1
    q.ack(claim)
    assert q.stats()[:2] == (0, 0)


@pytest.fixture
def small_compactions(monkeypatch):
    monkeypatch.setattr(journal, "COMPACT_MIN_BYTES", 200)
    monkeypatch.setattr(journal, "COMPACT_EMPTY_BYTES", 100)


def generation(path):
    return path.read_text().split("\n")[0]


@pytest.mark.parametrize("call", ["write", "fsync", "replace"])
def test_a_get_whose_compaction_fails_still_returns_its_item_once(
        queue_path, disk, small_compactions, call):
    q = FileQueue(queue_path, format="journal", fsync=call == "fsync")
    items = [f"item-{n:03}" for n in range(30)]
    for item in items:
        q.put(item)
    header = generation(queue_path)
    disk.fail(call, errno.ENOSPC, file=".tasks.json.tmp-*" if call != "replace" else "tasks.json",
              times=None)
    taken = [q.get() for _ in range(20)]
    assert disk.injected, "a compaction was tried"
    assert generation(queue_path) == header, "the current generation stays in use"
    assert taken == items[:20]
    disk.heal()
    assert list(iter(FileQueue(queue_path, format="journal").get, None)) == items[20:]
    assert not [p for p in queue_path.parent.iterdir() if ".tmp-" in p.name]


def test_a_ledger_compaction_that_fails_leaves_the_log_in_use(queue_path, queue_format, disk,
                                                              clock, monkeypatch):
    import queue_core.ledger as ledger_module
    monkeypatch.setattr(ledger_module, "COMPACT_MIN_BYTES", 500)
    q = FileQueue(queue_path, format=queue_format, clock=clock)
    q.put("first")
    q.ack(q.claim())  # the ledger exists
    disk.fail("replace", errno.ENOSPC, file="tasks.json.claims", times=None)
    for n in range(30):
        q.put(n)
        q.ack(q.claim())
    assert disk.injected, "a compaction was tried"
    q.put("last")
    claim = q.claim()
    disk.heal()
    assert claim.item == "last"
    other = FileQueue(queue_path, format=queue_format, clock=clock)
    assert other.stats()[:2] == (0, 1)
    other.ack(claim)
    assert q.stats()[:2] == (0, 0)


def test_the_lock_flag_that_cannot_be_written_fails_the_first_claim_cleanly(
        queue_path, queue_format, disk, clock):
    q = FileQueue(queue_path, format=queue_format, clock=clock)
    q.put("a")
    disk.fail("pwrite", errno.EIO, file="tasks.json.lock")
    with pytest.raises(StorageError, match=r"tasks\.json\.lock"):
        q.claim()
    assert q.get() == "a"


def test_a_ledger_that_cannot_be_created_fails_the_claim_cleanly(queue_path, queue_format,
                                                                 disk, clock):
    q = FileQueue(queue_path, format=queue_format, clock=clock)
    q.put("a")
    disk.fail("write", errno.ENOSPC, file=".tasks.json.claims.tmp-*", times=None)
    with pytest.raises(QueueFullError):
        q.claim()
    disk.heal()
    assert [p.name for p in queue_path.parent.iterdir() if ".tmp-" in p.name] == []
    assert q.claim().item == "a"


def test_ledger_appends_go_through_the_checked_calls(queue_path, disk):
    ledger = Ledger(queue_path, fsync=False)
    queue_path.parent.mkdir(parents=True)
    disk.fail("write", "short", file=None)
    with pytest.raises(QueueFullError):
        ledger.append({"op": "next", "order": 5})
    assert ledger.load() is None or ledger.load().next_order == 1


def test_the_errors_survive_pickling_to_another_process(queue_path):
    full = QueueFullError(queue_path, "append to", errno.ENOSPC)
    copy = pickle.loads(pickle.dumps(full))
    assert (type(copy), str(copy), copy.errno, copy.path) == (QueueFullError, str(full),
                                                             errno.ENOSPC, queue_path)


class Model:
    """What the queue must hold: waiting items in put order, and the claims held."""

    def __init__(self):
        self.waiting = []  # (put number, item), in FIFO order
        self.held = {}     # claim id -> (put number, item)

    def put(self, number, item):
        self.waiting.append((number, item))

    def take(self):
        return self.waiting.pop(0) if self.waiting else None

    def give_back(self, taken):
        self.waiting.append(taken)
        self.waiting.sort()


@pytest.mark.parametrize("fsync", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_random_faults_leave_exactly_the_operations_that_returned(
        queue_path, queue_format, disk, clock, small_compactions, monkeypatch, seed, fsync):
    import random

    import queue_core.ledger as ledger_module
    monkeypatch.setattr(ledger_module, "COMPACT_MIN_BYTES", 400)
    rng = random.Random(seed)
    q = FileQueue(queue_path, format=queue_format, clock=clock, fsync=fsync,
                  max_attempts=1000)  # the model keeps no dead letters
    model = Model()
    claims = {}
    failed = 0
    for number in range(250):
        if rng.random() < 0.4:
            kind = rng.choice(["short", errno.ENOSPC, errno.EIO])
            call = rng.choice(["write", "pwrite", "ftruncate", "replace"]
                              + (["fsync"] if fsync else []))
            if kind == "short" and call not in ("write", "pwrite"):
                kind = errno.ENOSPC
            disk.fail(call, kind, times=1)
        op = rng.choice(["put", "put", "get", "claim", "ack", "nack"])
        try:
            if op == "put":
                q.put(f"item-{number}")
                model.put(number, f"item-{number}")
            elif op == "get":
                got = q.get()
                expected = model.take()
                assert got == (None if expected is None else expected[1])
            elif op == "claim":
                claim = q.claim(lease=1000)
                expected = model.take()
                assert (claim and claim.item) == (expected and expected[1])
                if claim is not None:
                    claims[claim.id] = claim
                    model.held[claim.id] = expected
            elif claims:
                claim_id = rng.choice(sorted(claims))
                if op == "ack":
                    q.ack(claims[claim_id])
                else:
                    q.nack(claims[claim_id])
                    model.give_back(model.held[claim_id])
                del claims[claim_id]
                del model.held[claim_id]
        except StorageError:
            failed += 1
        disk.heal()
    assert failed > 10, "faults were injected and some operations failed"
    other = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=1000)
    assert other.stats()[:2] == (len(model.waiting), len(model.held))
    for claim in claims.values():
        other.nack(claim)
        model.give_back(model.held[claim.id])
    assert list(iter(other.get, None)) == [item for _, item in model.waiting]


def test_a_json_array_write_that_failed_before_its_rename_is_not_undone(queue_path, disk):
    """The file was never replaced: it stays the very same file (no rewrite to undo)."""
    q = FileQueue(queue_path, format="json-array", fsync=True)
    q.put("a")
    inode = queue_path.stat().st_ino
    disk.fail("write", errno.EIO, file=".tasks.json.tmp-*")
    with pytest.raises(StorageError):
        q.put("b")
    assert queue_path.stat().st_ino == inode
    [(call, name)] = disk.injected
    assert call == "write" and name.startswith(".tasks.json.tmp-")
    assert [q.get(), q.get()] == ["a", None]


def test_a_json_array_whose_directory_sync_keeps_failing_is_still_undone(queue_path, disk):
    """The undo itself does not sync the directory (that failed just before): it lands."""
    q = FileQueue(queue_path, format="json-array", fsync=True)
    q.put("a")
    before = queue_path.read_bytes()
    disk.fail("fsync", errno.EIO, file=queue_path.parent.name, times=None)
    with pytest.raises(StorageError, match="fsync"):
        q.put("b")
    assert queue_path.read_bytes() == before


def test_a_json_array_undo_that_fails_too_raises_the_first_error(queue_path, disk,
                                                                 monkeypatch):
    q = FileQueue(queue_path, format="json-array", fsync=True)
    q.put("a")
    disk.fail("fsync", errno.EIO, file=queue_path.parent.name)
    real_replace = os.replace
    replaces = []

    def second_replace_fails(source, target):
        replaces.append(target)
        if len(replaces) == 2:  # the undo's
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", second_replace_fails)
    with pytest.raises(StorageError) as caught:
        q.put("b")
    assert caught.value.operation == "fsync"
    assert len(replaces) == 2


def test_a_new_json_array_whose_first_directory_sync_fails_is_left_empty(queue_path, disk):
    queue_path.parent.mkdir()
    disk.fail("fsync", errno.EIO, file=queue_path.parent.name, times=None)
    with pytest.raises(StorageError, match="fsync"):
        FileQueue(queue_path, format="json-array", fsync=True)
    disk.heal()
    assert queue_path.read_bytes() == b"[]", "nothing to undo: the new, empty queue stays"
    assert FileQueue(queue_path, format="json-array").size() == 0


def test_write_atomic_without_its_directory_names_the_directory(tmp_path):
    from queue_core.atomic import write_atomic

    path = tmp_path / "gone" / "tasks.json"
    with pytest.raises(StorageError) as caught:
        write_atomic(path, b"[]")
    assert caught.value.path == path.parent
    assert str(caught.value) == (f"cannot create a temporary file for tasks.json in "
                                 f"{path.parent}: [ENOENT] No such file or directory; the "
                                 "queue was left as it was before the call")


def test_write_atomic_names_the_temporary_file_it_could_not_change(tmp_path, monkeypatch):
    from queue_core.atomic import write_atomic

    def refused(fd, mode):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "fchmod", refused)
    path = tmp_path / "tasks.json"
    with pytest.raises(StorageError) as caught:
        write_atomic(path, b"[]")
    assert caught.value.operation == "chmod"
    assert caught.value.path.parent == tmp_path
    assert caught.value.path.name.startswith(".tasks.json.tmp-")
    assert list(tmp_path.iterdir()) == [], "the temporary file was removed"


def test_a_json_array_undo_lands_even_when_every_later_sync_fails(queue_path, monkeypatch):
    """The undo is one rename, which a disk that now fails every fsync cannot stop; the
    directory sync that would make it durable fails too, so the put may still come back
    after a power loss: its error says it may have happened."""
    q = FileQueue(queue_path, format="json-array", fsync=True)
    q.put("a")
    before = queue_path.read_bytes()
    real_fsync = os.fsync
    calls = []

    def failing_after_the_first(fd):
        calls.append(fd)
        if len(calls) > 1:  # the new file's own sync lands; the directory's and all after fail
            raise OSError(errno.EIO, "Input/output error")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_after_the_first)
    with pytest.raises(StorageError, match="fsync") as raised:
        q.put("b")
    assert queue_path.read_bytes() == before
    assert len(calls) == 3, "the new file's sync, the directory's, the undo's directory sync"
    assert raised.value.outcome_unknown
