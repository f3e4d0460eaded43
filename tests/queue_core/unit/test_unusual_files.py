"""Unusual things in place of a queue's files, and unusual failures of the calls that read
them: every one is a ``QueueError`` that names the file or directory, never a bare
``OSError``, a hang, a wrong answer or a lost item.

- a FIFO (or any file that is not a regular file) where a queue file should be: refused as
  damage naming it, without ever blocking (a FIFO blocks a reader's ``open`` for ever);
- bytes that JSON text never holds (zeros a damaged disk left) inside an item's line:
  damage naming the file and the byte; the item is never taken;
- the queue's directory removed under an open queue: ``QueueDirectoryError`` in both formats
  (json-array took the missing file for an empty queue, for ever);
- no descriptor left for a durable change's commit (EMFILE): a ``StorageError`` before the
  change, so nothing of it stays;
- a stale file handle (ESTALE, a shared file system): a ``StorageError`` naming the file."""

import errno
import os
import shutil
import subprocess
import sys

import pytest

from queue_core import (
    CorruptQueueError,
    FileQueue,
    QueueDirectoryError,
    StorageError,
)
from queue_core.inspect import DAMAGED, UNUSABLE, inspect_queue
from tests.support.held_commits import HeldCommits


def queue_with_claims(path, format):
    queue = FileQueue(path, format=format)
    queue.put("a")
    queue.ack(queue.claim(lease=30.0))
    queue.put("b")
    queue.close()


def fifo_in_place_of(path):
    path.unlink()
    os.mkfifo(path)


def in_a_fresh_interpreter(code, timeout=20):
    """``code`` run by a new interpreter: (exit status, output); ``None`` if it still ran after
    ``timeout`` seconds (it hangs: the very thing these tests refuse)."""
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("name", ["tasks.json", "tasks.json.head", "tasks.json.claims"])
def test_a_fifo_in_place_of_a_journal_file_is_damage_naming_it(queue_path, name):
    queue_with_claims(queue_path, "journal")
    fifo_in_place_of(queue_path.with_name(name))
    with pytest.raises(CorruptQueueError, match="it is a FIFO, not a regular file") as raised:
        FileQueue(queue_path).get()
    assert raised.value.path == queue_path.with_name(name)


def test_a_fifo_in_place_of_a_json_array_file_is_damage_and_never_blocks(queue_path):
    queue_with_claims(queue_path, "json-array")
    fifo_in_place_of(queue_path)
    outcome = in_a_fresh_interpreter(f"""
from queue_core import CorruptQueueError, FileQueue
try:
    FileQueue({str(queue_path)!r}, format="json-array")
except CorruptQueueError as error:
    print(type(error).__name__, error.path)
""")
    assert outcome == (0, f"CorruptQueueError {queue_path}\n")


def test_queue_inspect_reports_a_fifo_and_never_blocks(queue_path):
    queue_with_claims(queue_path, "journal")
    fifo_in_place_of(queue_path)
    outcome = in_a_fresh_interpreter(f"""
import sys
from queue_core.inspect import main
sys.exit(main([{str(queue_path)!r}]))
""")
    assert outcome == (UNUSABLE, f"queue-inspect: {queue_path} is a FIFO, not a regular "
                                 "file\n")


def test_queue_inspect_reports_a_fifo_in_place_of_the_head_as_damage(queue_path):
    queue_with_claims(queue_path, "journal")
    fifo_in_place_of(queue_path.with_name("tasks.json.head"))
    report = inspect_queue(queue_path, lock_timeout=0.1)
    assert report.status == DAMAGED and "it is a FIFO" in report.damage[0]


def zeroed_item(queue_path):
    """A journal whose first item's line holds three zero bytes (a damaged disk), then
    "after"; where the zeros start."""
    queue = FileQueue(queue_path)
    queue.put("abcdefghij")
    queue.put("after")
    queue.close()
    data = bytearray(queue_path.read_bytes())
    at = data.index(b"defg")
    data[at:at + 3] = bytes(3)
    queue_path.write_bytes(bytes(data))  # in place: only the three bytes differ
    return at


def test_zeros_in_an_item_are_damage_naming_the_byte_and_the_item_is_never_taken(queue_path):
    at = zeroed_item(queue_path)
    queue = FileQueue(queue_path)
    for take in (queue.get, lambda: queue.get_many(2), lambda: queue.claim(lease=30.0)):
        with pytest.raises(CorruptQueueError, match=f"byte {at} is 0x00") as raised:
            take()
        assert raised.value.path == queue_path
    assert queue.size() == 2


def test_inspect_reports_zeros_in_an_item_as_damage(queue_path):
    at = zeroed_item(queue_path)
    report = inspect_queue(queue_path)
    assert report.status == DAMAGED and f"byte {at} is 0x00" in report.damage[0]


def test_a_queue_whose_directory_was_removed_raises_a_directory_error(queue_path, queue_format):
    queue = FileQueue(queue_path, format=queue_format)
    queue.put("a")
    shutil.rmtree(queue_path.parent)
    for call in (queue.get, lambda: queue.put("b"), queue.size):
        with pytest.raises(QueueDirectoryError, match="it no longer exists") as raised:
            call()
        assert raised.value.directory == queue_path.parent


def test_a_json_array_file_removed_under_an_open_queue_is_damage_not_an_empty_queue(
        queue_path):
    queue = FileQueue(queue_path, format="json-array")
    queue.put("a")
    queue_path.unlink()
    with pytest.raises(CorruptQueueError, match="it is missing"):
        queue.get()


def test_no_descriptor_left_for_a_commit_raises_before_the_change(queue_path, monkeypatch):
    queue = FileQueue(queue_path, fsync=True)
    queue.put("kept")
    real_dup = os.dup

    def no_descriptor_left(fd):
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))

    for operation in (lambda: queue.put("x"), queue.get):
        monkeypatch.setattr(os, "dup", no_descriptor_left)
        with pytest.raises(StorageError, match=r"\[EMFILE\]") as raised:
            operation()
        assert not raised.value.outcome_unknown
        monkeypatch.setattr(os, "dup", real_dup)
    assert list(iter(FileQueue(queue_path, fsync=True).get, None)) == ["kept"]


def stale_reads(monkeypatch, name):
    """Every ``pread`` of the file ``name`` fails with ESTALE from now on."""
    real = os.pread

    def pread(fd, size, offset):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")) == name:
            raise OSError(errno.ESTALE, os.strerror(errno.ESTALE))
        return real(fd, size, offset)

    monkeypatch.setattr(os, "pread", pread)


@pytest.mark.parametrize("name", ["tasks.json", "tasks.json.head"])
def test_a_stale_file_handle_is_a_storage_error_naming_the_file(queue_path, monkeypatch, name):
    queue = FileQueue(queue_path)
    queue.put("a")
    stale_reads(monkeypatch, name)
    with pytest.raises(StorageError, match=r"\[ESTALE\]") as raised:
        queue.get()
    assert raised.value.path == queue_path.with_name(name)
    monkeypatch.undo()
    assert queue.get() == "a"  # nothing was taken


def test_a_commit_that_cannot_read_its_sync_record_raises_and_takes_its_change_back(
        queue_path, monkeypatch):
    queue = FileQueue(queue_path, fsync=True)
    held = HeldCommits(queue, monkeypatch)
    queue.put("x")  # written; its commit waits
    stale_reads(monkeypatch, "tasks.json.sync")
    with pytest.raises(StorageError, match=r"\[ESTALE\]") as raised:
        held.release()
    assert raised.value.path == queue_path.with_name("tasks.json.sync")
    monkeypatch.undo()
    assert queue.get() is None  # its change is taken back before anything else
