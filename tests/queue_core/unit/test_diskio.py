"""The checked disk calls on their own: each failure is a StorageError naming the file, the
call and the errno word for word, and a short write is a full disk (an append cut back)."""

import errno
import os

import pytest

from queue_core import diskio
from queue_core.errors import QueueFullError, StorageError

NOT_OPEN = 10_000  # a descriptor number that no test opens
TAIL = "the queue was left as it was before the call"


def message(path, operation, code):
    return (f"cannot {operation} {path}: [{errno.errorcode[code]}] {os.strerror(code)}; "
            f"{TAIL}")


@pytest.mark.parametrize("call, operation", [
    (lambda path: diskio.chmod(NOT_OPEN, 0o644, path), "chmod"),
    (lambda path: diskio.fsync(NOT_OPEN, path), "fsync"),
    (lambda path: diskio.truncate(NOT_OPEN, 0, path), "truncate"),
    (lambda path: diskio.pwrite(NOT_OPEN, b"x", 0, path), "write"),
    (lambda path: diskio.write_all(NOT_OPEN, b"x", path), "write"),
    (lambda path: diskio.append(NOT_OPEN, b"x", path, 0), "append to"),
])
def test_a_failed_call_names_the_file_the_call_and_the_errno(tmp_path, call, operation):
    path = tmp_path / "tasks.json"
    with pytest.raises(StorageError) as raised:
        call(path)
    assert (raised.value.path, raised.value.operation, raised.value.errno) == (
        path, operation, errno.EBADF)
    assert str(raised.value) == message(path, operation, errno.EBADF)
    assert isinstance(raised.value.__cause__, OSError)


def test_a_directory_that_cannot_be_opened_is_named(tmp_path):
    missing = tmp_path / "gone"
    with pytest.raises(StorageError) as raised:
        diskio.fsync_directory(missing)
    assert str(raised.value) == message(missing, "open the directory", errno.ENOENT)


def test_only_a_directory_is_synced_as_one(tmp_path):
    diskio.fsync_directory(tmp_path)
    regular = tmp_path / "file"
    regular.write_bytes(b"")
    with pytest.raises(StorageError) as raised:
        diskio.fsync_directory(regular)
    assert raised.value.errno == errno.ENOTDIR


def test_the_directory_s_descriptor_is_closed_after_its_sync(tmp_path, monkeypatch):
    opened = []
    real_open = os.open

    def recording_open(path, flags, *args):
        opened.append(real_open(path, flags, *args))
        return opened[-1]

    monkeypatch.setattr(os, "open", recording_open)
    diskio.fsync_directory(tmp_path)
    [fd] = opened
    with pytest.raises(OSError):
        os.fstat(fd)


@pytest.fixture
def short_writes(monkeypatch):
    """Every write stores only its first 2 bytes, as on a file system that just filled up."""
    real_write, real_pwrite = os.write, os.pwrite
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:2])))
    monkeypatch.setattr(os, "pwrite", lambda fd, data, at: real_pwrite(fd, bytes(data[:2]), at))


@pytest.mark.parametrize("operation", ["append to", "write", "write at"])
def test_a_short_write_is_a_full_disk_and_an_append_is_cut_back(tmp_path, short_writes,
                                                                 operation):
    path = tmp_path / "tasks.json"
    path.write_bytes(b"old\n")
    fd = os.open(path, os.O_RDWR | (os.O_APPEND if operation == "append to" else 0))
    try:
        with pytest.raises(QueueFullError) as raised:
            if operation == "append to":
                diskio.append(fd, b"12345", path, 4)
            elif operation == "write":
                diskio.write_all(fd, b"12345", path)
            else:
                diskio.pwrite(fd, b"12345", 4, path)
    finally:
        os.close(fd)
    shown = "write" if operation == "write at" else operation
    assert str(raised.value) == (f"cannot {shown} {path}: [ENOSPC] short write: 2 of 5 bytes "
                                 f"written (the file system is full); {TAIL}")
    if operation == "append to":
        assert path.read_bytes() == b"old\n", "the failed append was cut back"


def test_a_file_counts_as_replaced_by_its_identity_whatever_other_names_link_it(tmp_path):
    path = tmp_path / "tasks.json"
    path.write_bytes(b"old")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert diskio.replaced(fd, path)[0] is False
        os.link(path, tmp_path / "backup")  # a second name: the link count is 2
        assert diskio.replaced(fd, path)[0] is False
        (tmp_path / "new").write_bytes(b"new")
        os.replace(tmp_path / "new", path)  # renamed over: the backup keeps the old file
        gone, status = diskio.replaced(fd, path)
        assert (gone, status.st_size, status.st_nlink) == (True, 3, 1)
        os.unlink(path)
        assert diskio.replaced(fd, path)[0] is True  # a missing path counts as replaced
    finally:
        os.close(fd)
