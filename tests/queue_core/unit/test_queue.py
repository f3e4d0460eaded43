"""The FileQueue contract in one process: FIFO, persistence, bad items, the files it keeps."""

import errno
import json
import os

import pytest

from queue_core import FileQueue, InvalidItemError, StorageError
from queue_core.atomic import temp_prefix


def test_items_come_out_in_the_order_they_went_in(queue):
    for item in ["a", {"b": 1}, [1, 2], 3.5, True, 0]:
        queue.put(item)
    assert [queue.get() for _ in range(6)] == ["a", {"b": 1}, [1, 2], 3.5, True, 0]


def test_get_on_an_empty_queue_returns_none(queue):
    assert queue.get() is None
    queue.put("x")
    assert queue.get() == "x"
    assert queue.get() is None


def test_size_counts_waiting_items(queue):
    assert queue.size() == 0
    queue.put(1)
    queue.put(2)
    assert queue.size() == 2
    queue.get()
    assert queue.size() == 1


def test_items_go_through_json(queue):
    queue.put((1, "two"))
    assert queue.get() == [1, "two"]


def test_items_persist_for_another_queue_object(queue_path, open_queue):
    open_queue(queue_path).put({"id": 1})
    assert open_queue(queue_path).get() == {"id": 1}


def test_the_json_array_file_stays_readable_by_the_original_scripts(queue_path):
    queue = FileQueue(queue_path, format="json-array")
    queue.put({"id": 1})
    queue.put({"id": 2})
    assert json.loads(queue_path.read_text()) == [{"id": 1}, {"id": 2}]


def test_a_new_queue_is_created_with_its_directory(queue_path, open_queue):
    open_queue(queue_path)
    assert queue_path.exists()
    assert queue_path.with_name("tasks.json.lock").exists()


def test_the_lock_file_stays_while_the_json_array_file_is_replaced_not_rewritten(queue_path):
    queue = FileQueue(queue_path, format="json-array")
    lock_path = queue_path.with_name("tasks.json.lock")
    lock_inode = lock_path.stat().st_ino
    with open(queue_path, "rb") as before_put:
        queue.put("new")
        queue.get()
        assert before_put.read() == b"[]", "a reader holding the old file must see it whole"
    assert lock_path.stat().st_ino == lock_inode


@pytest.mark.parametrize(
    "item, reason",
    [
        ({1, 2}, "not JSON-serialisable"),
        (object(), "not JSON-serialisable"),
        (float("nan"), "not JSON-serialisable"),
        ({"x": float("inf")}, "not JSON-serialisable"),
        (None, "returns None to mean"),
    ],
)
def test_an_item_that_cannot_be_queued_raises_type_error_and_changes_nothing(
    queue, queue_path, item, reason
):
    queue.put("kept")
    before = queue_path.read_bytes()
    with pytest.raises(TypeError, match=reason) as caught:
        queue.put(item)
    assert isinstance(caught.value, InvalidItemError)
    assert queue_path.read_bytes() == before
    assert queue.get() == "kept"


def test_a_self_referencing_item_is_refused(queue):
    loop = []
    loop.append(loop)
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        queue.put(loop)
    assert queue.size() == 0


def test_an_unknown_format_is_refused(queue_path):
    with pytest.raises(ValueError, match="unknown queue format 'xml'"):
        FileQueue(queue_path, format="xml")


def test_leftover_temp_files_of_killed_writers_are_removed_on_open(queue_path, open_queue):
    open_queue(queue_path).put("a")
    leftover = queue_path.with_name(temp_prefix(queue_path) + "abc123")
    leftover.write_text('[1, 2, "half')
    unrelated = queue_path.with_name(".tasks.json.ids" + ".tmp-keep")
    unrelated.write_text("5")
    q = open_queue(queue_path)
    assert not leftover.exists()
    assert unrelated.exists()
    assert q.get() == "a"


def test_fsync_flushes_the_file_and_the_directory(queue_path, monkeypatch):
    q = FileQueue(queue_path, fsync=True, format="json-array")
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    q.put("durable")
    directory = str(queue_path.parent.resolve())
    assert directory in synced
    assert any(os.path.basename(p).startswith(temp_prefix(queue_path)) for p in synced)
    assert q.get() == "durable"


def test_without_fsync_nothing_is_synced(queue, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "fsync", calls.append)
    queue.put("fast")
    assert calls == []


def test_repr_names_the_file(queue, queue_path):
    assert str(queue_path) in repr(queue)


def test_a_lock_starts_over_in_a_forked_child(tmp_path):
    from queue_core.locking import FileLock

    lock = FileLock(tmp_path / "q.lock")
    inherited = lock._fd
    lock._thread_lock.acquire()  # a thread of the parent held it at the fork
    lock._reset_after_fork()
    assert lock._fd is None
    with pytest.raises(OSError):
        os.fstat(inherited)  # the parent's description is not used, nor kept open
    with lock.exclusive():  # a fresh thread lock and descriptor
        assert lock._fd is not None
    lock.close()
    lock._reset_after_fork()  # nothing open: nothing to close
    assert lock._fd is None


def test_a_failed_whole_file_write_leaves_the_old_file_and_no_temporary(tmp_path,
                                                                        monkeypatch):
    from queue_core import atomic

    target = tmp_path / "data"
    atomic.write_atomic(target, b"old")

    def fail(*args):
        raise OSError("disk gone")  # no errno: reported as an I/O error

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(StorageError) as caught:
        atomic.write_atomic(target, b"new")
    assert str(caught.value) == (
        f"cannot rename a new version over {target}: [EIO] Input/output error; "
        "the queue was left as it was before the call")
    assert (caught.value.path, caught.value.errno) == (target, errno.EIO)
    assert isinstance(caught.value.__cause__, OSError)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_whole_file_writes_are_synced_only_when_asked(tmp_path, monkeypatch):
    from queue_core import atomic

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    atomic.write_atomic(tmp_path / "plain", b"x")
    assert synced == []
    atomic.write_atomic(tmp_path / "durable", b"x", fsync=True)
    assert len(synced) == 2  # the data, then the directory


def test_stale_temporary_files_are_removed_and_listed(tmp_path):
    from queue_core import atomic

    target = tmp_path / "data"
    stale = [tmp_path / (atomic.temp_prefix(target) + suffix) for suffix in ("a1", "b2")]
    for path in stale:
        path.write_text("half")
    (tmp_path / "other").write_text("keep")
    assert sorted(atomic.remove_stale_temp_files(target)) == sorted(stale)
    assert [p.name for p in tmp_path.iterdir()] == ["other"]
    assert atomic.remove_stale_temp_files(target) == []


def test_missing_parent_directories_are_created(tmp_path, open_queue):
    q = open_queue(tmp_path / "a" / "b" / "c" / "tasks.json")
    q.put(1)
    assert (tmp_path / "a" / "b" / "c" / "tasks.json.lock").exists()


def test_repr_shows_the_path_fsync_and_format(queue_path):
    assert repr(FileQueue(queue_path)) == (
        f"FileQueue({str(queue_path)!r}, fsync=False, format='journal')")
    assert repr(FileQueue(queue_path, fsync=True)) == (
        f"FileQueue({str(queue_path)!r}, fsync=True, format='journal')")


def test_a_full_disk_during_a_change_is_a_full_queue(queue_path, queue_format, open_queue,
                                                     monkeypatch):
    from queue_core import QueueFullError

    q = open_queue(queue_path)
    q.put("kept")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(QueueFullError) as caught:
        q.put("lost")
    error = caught.value
    if queue_format == "journal":  # appends to the journal in place
        assert (error.operation, error.path) == ("append to", queue_path)
    else:  # rewrites the whole array through a temporary beside it
        assert (error.operation, error.path.parent) == ("write", queue_path.parent)
        assert error.path.name.startswith(temp_prefix(queue_path))
    assert (error.errno, error.detail) == (errno.ENOSPC, "No space left on device")
    assert str(error) == (f"cannot {error.operation} {error.path}: [ENOSPC] No space left "
                          "on device; the queue was left as it was before the call")
    monkeypatch.undo()
    assert [q.get(), q.get()] == ["kept", None]


def test_a_raised_claims_flag_without_a_ledger_is_a_queue_without_claims(queue_path,
                                                                         open_queue):
    q = open_queue(queue_path)
    q.put("a")
    queue_path.with_name("tasks.json.lock").write_bytes(b"1")  # killed before its first claim
    other = open_queue(queue_path)
    assert (other.size(), other.stats()[:4], other.dead()) == (1, (1, 0, 0, 0), [])
    assert other.requeue_dead() == 0
    assert other.get() == "a"


def test_a_failed_write_whose_temporary_is_gone_reports_the_write_error(tmp_path,
                                                                       monkeypatch):
    from queue_core import atomic

    def vanish_then_fail(source, target):
        os.unlink(source)
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", vanish_then_fail)
    with pytest.raises(StorageError) as caught:
        atomic.write_atomic(tmp_path / "data", b"new")
    assert (caught.value.operation, caught.value.path) == (
        "rename a new version over", tmp_path / "data")
    assert str(caught.value.__cause__) == "rename failed"  # the write error, not the unlink's
    assert list(tmp_path.iterdir()) == []


def test_every_open_lock_starts_over_after_a_fork(tmp_path, queue_path, open_queue):
    from queue_core import locking

    q = open_queue(queue_path)
    q.put("a")
    lock = locking.FileLock(tmp_path / "other.lock")
    locking._reset_all_after_fork()  # what os.fork runs in the child
    assert (lock._fd, q._lock._fd) == (None, None)
    assert q.get() == "a"  # the queue opens its lock again
    lock.close()


def test_whole_file_writes_go_through_a_temporary_beside_the_target(tmp_path, monkeypatch):
    from queue_core import atomic

    renamed = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: renamed.append((a, b)) or real_replace(a, b))
    atomic.write_atomic(tmp_path / "data", b"x")
    [(source, target)] = renamed
    assert (os.path.dirname(source), target) == (str(tmp_path), tmp_path / "data")
    assert os.path.basename(source).startswith(atomic.temp_prefix(tmp_path / "data"))
