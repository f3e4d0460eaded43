"""The smaller faults of issue 10: each gets its documented error type and message."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

import queue_core
from queue_core import (
    CorruptQueueError,
    FileQueue,
    InvalidItemError,
    QueueDirectoryError,
)
from queue_core.errors import QueueFullError


def test_an_existing_queue_on_a_read_only_file_system_is_a_directory_error(
        queue_path, queue_format, monkeypatch):
    FileQueue(queue_path, format=queue_format).put("a")
    real_open = os.open

    def read_only_open(path, flags, *args):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only_open)
    with pytest.raises(QueueDirectoryError, match="read-only file system") as caught:
        FileQueue(queue_path, format=queue_format)
    assert caught.value.directory == queue_path.parent


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_lock_file_that_cannot_be_created_for_want_of_inodes_is_a_full_disk(
        queue_path, monkeypatch, code):
    real_open = os.open

    def no_inode_left(path, flags, *args):  # the lock file is made as a temporary file first
        if flags & os.O_CREAT and ".lock" in os.path.basename(path):
            raise OSError(code, os.strerror(code), path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_inode_left)
    with pytest.raises(QueueFullError, match=r"cannot create .*\.lock"):
        FileQueue(queue_path)
    assert not queue_path.parent.exists() or list(queue_path.parent.iterdir()) == []


def test_an_integer_too_long_to_print_is_an_invalid_item(queue):
    with pytest.raises(InvalidItemError, match="of type int cannot be queued"):
        queue.put(10**5000)
    assert queue.size() == 0


def test_a_journal_opened_as_a_json_array_says_it_looks_like_a_journal(queue_path):
    FileQueue(queue_path, format="journal").put("x")
    before = queue_path.read_bytes()
    with pytest.raises(CorruptQueueError, match="looks like a journal: open it with "
                                                "format='journal'"):
        FileQueue(queue_path, format="json-array")
    assert queue_path.read_bytes() == before


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("operation", ["get", "claim", "size"])
def test_a_json_array_with_nan_is_corrupt_not_a_raw_value_error(queue_path, constant,
                                                                operation):
    queue_path.parent.mkdir(parents=True)
    queue = FileQueue(queue_path, format="json-array")
    content = f'[{{"x": {constant}}}, 2]'.encode()
    queue_path.write_bytes(content)
    with pytest.raises(CorruptQueueError, match=f"{constant.lstrip('-')} is not JSON"):
        getattr(queue, operation)()
    assert queue_path.read_bytes() == content


@pytest.mark.parametrize("operation", ["get", "claim"])
def test_a_null_item_in_a_json_array_is_refused_not_taken_for_empty(queue_path, operation):
    queue_path.parent.mkdir(parents=True)
    queue = FileQueue(queue_path, format="json-array")
    queue_path.write_bytes(b'[null, "next"]')
    with pytest.raises(CorruptQueueError, match="first item is null"):
        getattr(queue, operation)()
    assert queue_path.read_bytes() == b'[null, "next"]'


def test_the_line_reader_reads_a_bounded_amount_when_the_file_shrank(queue_path, monkeypatch):
    queue = FileQueue(queue_path, format="journal")
    queue.put("x" * 100)
    storage = queue._storage
    fd, size = storage._data()
    offset = storage.position()[1]
    os.truncate(queue_path, offset)  # shrank after its size was taken: the line is gone
    asked = []
    real_pread = os.pread

    def bounded_pread(fd, length, at):
        asked.append(length)
        if length > 1 << 20:
            raise AssertionError(f"pread of {length} bytes from a {size}-byte file")
        return real_pread(fd, length, at)

    monkeypatch.setattr(os, "pread", bounded_pread)
    assert storage._line_at(fd, offset, size) == (None, offset)
    assert len(asked) <= 2


# -- a real, tiny file system ---------------------------------------------------------------


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 64 KiB tmpfs (needs root and mount rights; skipped otherwise)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = os.system(f"mount -t tmpfs -o size=64k tmpfs {mount_point} 2>/dev/null")
    if done != 0:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    yield mount_point
    os.system(f"umount -l {mount_point}")  # lazily: a test may still hold descriptors


@pytest.mark.parametrize("queue_format", ["journal", "json-array"])
def test_a_full_tmpfs_loses_no_put_that_returned(tiny_tmpfs, queue_format):
    path = tiny_tmpfs / "tasks.json"
    queue = FileQueue(path, format=queue_format)
    queue.put("first")
    queue.claim()  # the ledger exists too
    filler = tiny_tmpfs / "filler"
    with open(filler, "wb") as spill:  # leave about 8 KiB
        spill.write(b"\0" * (os.statvfs(tiny_tmpfs).f_bavail * os.statvfs(tiny_tmpfs).f_frsize
                             - 8192))
    returned = []
    with pytest.raises(QueueFullError):
        for n in range(100_000):
            queue.put(f"item-{n:05}-" + "x" * 50)
            returned.append(f"item-{n:05}-" + "x" * 50)
    filler.unlink()
    queue.put("after")
    got = list(iter(FileQueue(path, format=queue_format).get, None))
    assert got == [*returned, "after"]


def test_an_existing_queue_on_a_read_only_tmpfs_is_a_directory_error(tiny_tmpfs):
    path = tiny_tmpfs / "tasks.json"
    package_root = Path(queue_core.__file__).parent.parent
    subprocess.run(  # in a child, so that no descriptor open for writing blocks the remount
        [sys.executable, "-c", f"import queue_core; queue_core.FileQueue({str(path)!r}).put(1)"],
        check=True, env={**os.environ, "PYTHONPATH": str(package_root)})
    if os.system(f"mount -o remount,ro {tiny_tmpfs}") != 0:
        pytest.skip("cannot remount the tmpfs read-only")
    with pytest.raises(QueueDirectoryError, match="read-only file system"):
        FileQueue(path)



@pytest.mark.parametrize("operation, problem", [
    ("get", "its first item is null, which a queue cannot hold (get() returns None for an "
            "empty queue)"),
    ("get_many", "one of its first items is null, which a queue cannot hold (get() returns "
                 "None for an empty queue)"),
    ("claim_many", "one of its first items is null, which a queue cannot hold (get() returns "
                   "None for an empty queue)"),
])
def test_a_null_item_in_a_json_array_is_named_word_for_word(queue_path, operation, problem):
    queue_path.parent.mkdir(parents=True)
    queue = FileQueue(queue_path, format="json-array")
    queue_path.write_bytes(b'["first", null]' if operation != "get" else b'[null]')
    with pytest.raises(CorruptQueueError) as caught:
        getattr(queue, operation)(*([] if operation == "get" else [2]))
    assert (caught.value.path, caught.value.problem) == (queue_path, problem)


def test_a_journal_opened_as_a_json_array_keeps_the_json_error_too(queue_path):
    FileQueue(queue_path, format="journal").put("x")
    with pytest.raises(CorruptQueueError) as caught:
        FileQueue(queue_path, format="json-array")
    assert caught.value.problem.startswith("it is not valid JSON (Extra data: line 2 column 1")
    assert caught.value.problem.endswith(") (it looks like a journal: open it with "
                                         "format='journal')")


@pytest.mark.parametrize("code, reason", [
    (errno.EROFS, "it is on a read-only file system: the queue needs to write its lock file "
                  "tasks.json.lock"),
    (errno.EIO, "cannot create or open the lock file tasks.json.lock ([Errno 5] Input/output "
                "error)"),
])
def test_a_lock_file_that_cannot_be_opened_is_explained_word_for_word(queue_path, monkeypatch,
                                                                      code, reason):
    queue_path.parent.mkdir(parents=True)
    real_open = os.open

    def failing_open(path, flags, *args):
        if os.fspath(path).endswith(".lock"):
            raise OSError(code, os.strerror(code))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", failing_open)
    with pytest.raises(QueueDirectoryError) as caught:
        FileQueue(queue_path)
    assert caught.value.reason == reason


def test_the_claims_flag_is_synced_only_when_asked_and_a_failed_sync_names_the_lock_file(
        tmp_path, monkeypatch):
    from queue_core.errors import StorageError
    from queue_core.locking import FileLock

    lock = FileLock(tmp_path / "tasks.json.lock")
    synced = []
    monkeypatch.setattr(os, "fsync", synced.append)
    lock.raise_flag()
    assert synced == []
    lock.raise_flag(fsync=True)
    assert len(synced) == 1

    def failing_fsync(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(StorageError) as caught:
        lock.raise_flag(fsync=True)
    assert (caught.value.path, caught.value.operation) == (lock.path, "fsync")
    lock.close()


def test_a_directory_made_by_another_process_meanwhile_is_used(queue_path, monkeypatch):
    from pathlib import Path as RealPath

    real_is_dir = RealPath.is_dir
    looked = []

    def made_meanwhile(self):
        if self == queue_path.parent and not looked:
            looked.append(self)
            self.mkdir(parents=True)  # another process, right after this one looked
            return False
        return real_is_dir(self)

    monkeypatch.setattr(RealPath, "is_dir", made_meanwhile)
    FileQueue(queue_path).put("a")
    assert looked == [queue_path.parent]
    assert FileQueue(queue_path).get() == "a"


def test_a_permission_error_inside_an_operation_names_the_directory(queue_path, queue_format,
                                                                    monkeypatch):
    q = FileQueue(queue_path, format=queue_format)

    def refused(self, *args):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(type(q._storage), "append_many", refused)
    with pytest.raises(QueueDirectoryError) as caught:
        q.put("a")
    assert caught.value.directory == queue_path.parent
    assert str(caught.value) == (f"cannot use queue directory {queue_path.parent}: permission "
                                 "denied ([Errno 13] Permission denied)")


def test_a_queue_whose_lock_cannot_be_taken_raises_that_error_and_leaks_nothing(
        queue_path, monkeypatch):
    import fcntl

    FileQueue(queue_path).close()

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    before = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(OSError) as caught:
        FileQueue(queue_path)
    assert caught.value.errno == errno.ENOLCK, "not an error of the cleanup"
    assert len(os.listdir("/proc/self/fd")) == before
