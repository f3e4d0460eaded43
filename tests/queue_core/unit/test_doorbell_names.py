"""The doorbell's name and its leftovers. The FIFO is named after the lock file's device and
inode and the random token the lock file holds, so a queue never uses a FIFO that an older
queue left at a reused inode (whose owner or mode may keep it out: its waiters then poll
silently). The lock file is created whole (flag and token) by a link; one of an older version
gets its token at the next open. A FIFO that cannot be used is said once in the log, and
``remove_bell`` removes a queue's FIFO when the queue is done with."""

import errno
import logging
import os

import pytest

from queue_core import FileQueue
from queue_core.doorbell import bell_of, bell_path, remove_bell


@pytest.fixture
def lock_path(queue_path):
    return queue_path.with_name("tasks.json.lock")


def identity(lock_path):
    status = os.stat(lock_path)
    return f"{status.st_dev}:{status.st_ino}"


def rings_heard(queue):
    queue._bell.ring()  # as a put rings it
    return queue._bell.drain()


def test_the_fifo_is_named_after_the_lock_file_and_its_token(queue_path, lock_path):
    queue = FileQueue(queue_path)
    token = lock_path.read_bytes()[1:].decode()
    assert queue._bell.path == bell_path(identity(lock_path), token) == bell_of(lock_path)
    device, inode = identity(lock_path).split(":")
    assert queue._bell.path.name == f"filequeue-{device}-{inode}-{token}.bell"
    remove_bell(lock_path)


def test_what_an_older_queue_left_at_the_same_inode_does_not_silence_a_new_queue(
        queue_path, lock_path):
    FileQueue(queue_path).close()
    left = bell_path(identity(lock_path), None)  # where a queue without a token rang
    left.write_bytes(b"")  # something no queue can ring: not a FIFO
    try:
        assert rings_heard(FileQueue(queue_path)) == 1
    finally:
        left.unlink()
        remove_bell(lock_path)


@pytest.mark.parametrize("older, flag", [(b"", b"0"), (b"1", b"1")])
def test_a_lock_file_of_an_older_version_gets_a_token_and_keeps_its_flag(
        queue_path, lock_path, older, flag):
    FileQueue(queue_path).close()
    lock_path.write_bytes(older)  # an older version's: the flag alone, or nothing
    first, second = FileQueue(queue_path), FileQueue(queue_path)
    content = lock_path.read_bytes()
    assert content[:1] == flag and len(content) == 17
    assert first._bell.path == second._bell.path == bell_of(lock_path)
    assert rings_heard(first) == 1
    remove_bell(lock_path)


def test_a_lock_file_is_created_whole_by_a_link(queue_path, lock_path, monkeypatch):
    linked = []
    real_link = os.link

    def link(source, target, **kwargs):
        with open(source, "rb") as made:
            linked.append((os.path.basename(target), made.read()))
        return real_link(source, target, **kwargs)

    monkeypatch.setattr(os, "link", link)
    FileQueue(queue_path)
    ((name, content),) = linked
    assert name == "tasks.json.lock" and content == lock_path.read_bytes()
    assert content[:1] == b"0" and len(content) == 17
    assert sorted(p.name for p in queue_path.parent.iterdir()) == [
        "tasks.json", "tasks.json.head", "tasks.json.lock"]  # no temporary file left
    remove_bell(lock_path)


def test_without_hard_links_the_lock_file_gets_its_token_at_its_first_open(
        queue_path, lock_path, monkeypatch):
    def no_links(source, target, **kwargs):
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "link", no_links)
    first, second = FileQueue(queue_path), FileQueue(queue_path)
    assert len(lock_path.read_bytes()) == 17
    assert first._bell.path == second._bell.path == bell_of(lock_path)
    remove_bell(lock_path)


def test_a_doorbell_that_cannot_be_used_is_said_once_in_the_log(queue_path, lock_path,
                                                                 caplog):
    FileQueue(queue_path).close()
    taken = bell_of(lock_path)
    taken.write_bytes(b"")  # something else sits at its name
    try:
        with caplog.at_level(logging.WARNING, logger="queue_core.doorbell"):
            for _ in range(2):
                queue = FileQueue(queue_path)
                queue.put("a")
                assert queue.get(timeout=0.01) == "a"
        (record,) = caplog.records
        assert str(taken) in record.getMessage()
        assert "something other than a FIFO is at its name" in record.getMessage()
    finally:
        taken.unlink()


def test_remove_bell_removes_a_queues_fifo_and_nothing_else(queue_path, lock_path, tmp_path):
    queue = FileQueue(queue_path)
    queue.put("a")  # the first ring makes the FIFO
    fifo = bell_of(lock_path)
    assert fifo.is_fifo()
    remove_bell(lock_path)
    assert not fifo.exists()
    fifo.write_bytes(b"")  # not a FIFO: someone else's, left alone
    remove_bell(lock_path)
    assert fifo.exists()
    fifo.unlink()
    remove_bell(tmp_path / "no-such.lock")  # never raises


def test_a_temporary_lock_file_a_crash_left_is_removed_at_the_next_open(queue_path,
                                                                        lock_path):
    FileQueue(queue_path).close()
    leftover = queue_path.with_name(".tasks.json.lock.tmp-abcd1234")
    leftover.write_bytes(b"0")
    FileQueue(queue_path).close()
    assert not leftover.exists()
