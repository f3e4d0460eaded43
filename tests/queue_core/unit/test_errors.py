"""The exceptions on their own: their messages word for word, the errno names, and the copies
that pickling makes (a role's child process passes its error back to the parent)."""

import errno
import pickle
from pathlib import Path

import pytest

from queue_core.errors import (
    CorruptQueueError,
    QueueFullError,
    QueueNotFoundError,
    StorageError,
    short_write,
    storage_error,
)

PATH = Path("/q/tasks.json")


def copied(error):
    return pickle.loads(pickle.dumps(error))


def test_a_corrupt_queue_error_keeps_its_arguments_through_pickling():
    moved = [PATH, PATH.with_name("tasks.json.head")]
    error = CorruptQueueError(PATH, "bad line 3", moved)
    assert error.args == (PATH, "bad line 3", moved)
    copy = copied(error)
    assert (copy.path, copy.problem, copy.move_away, str(copy)) == (
        PATH, "bad line 3", moved, str(error))
    assert str(error) == ("queue file /q/tasks.json is corrupt: bad line 3; it was left "
                          "untouched: repair it, or stop every process using the queue, then "
                          "move /q/tasks.json, /q/tasks.json.head away together to start an "
                          "empty queue")


def test_a_queue_not_found_error_keeps_its_arguments_through_pickling():
    error = QueueNotFoundError(PATH, "there is no such file")
    assert error.args == (PATH, "there is no such file")
    copy = copied(error)
    assert (copy.path, copy.reason, str(copy)) == (PATH, "there is no such file",
                                                  "no queue at /q/tasks.json: there is no such "
                                                  "file; nothing was created")


def test_a_storage_error_keeps_its_arguments_through_pickling():
    error = StorageError(PATH, "append to", errno.EIO, "disk on fire")
    assert error.args == (PATH, "append to", errno.EIO, "disk on fire")
    copy = copied(error)
    assert (copy.operation, copy.errno, copy.detail, str(copy)) == (
        "append to", errno.EIO, "disk on fire", str(error))
    assert str(error) == ("cannot append to /q/tasks.json: [EIO] disk on fire; the queue was "
                          "left as it was before the call")


def test_a_storage_error_without_detail_says_what_the_errno_means():
    error = StorageError(PATH, "sync", errno.EROFS)
    assert error.detail == "Read-only file system"
    assert error.args == (PATH, "sync", errno.EROFS, "")
    assert str(error) == ("cannot sync /q/tasks.json: [EROFS] Read-only file system; the queue "
                          "was left as it was before the call")


def test_an_errno_without_a_name_is_shown_as_its_number():
    error = StorageError(PATH, "sync", 4242, "odd")
    assert "[4242] odd" in str(error)


@pytest.mark.parametrize("code, kind", [(errno.ENOSPC, QueueFullError),
                                        (errno.EDQUOT, QueueFullError),
                                        (errno.EIO, StorageError)])
def test_storage_error_keeps_the_os_error_s_own_text(code, kind):
    error = storage_error(PATH, "write", OSError(code, "the device's own words"))
    assert type(error) is kind
    assert (error.path, error.operation, error.errno, error.detail) == (
        PATH, "write", code, "the device's own words")


def test_storage_error_of_an_os_error_without_text_or_number():
    error = storage_error(PATH, "write", OSError("no errno"))
    assert (error.errno, error.detail) == (errno.EIO, "Input/output error")


def test_a_short_write_is_a_full_disk_word_for_word():
    error = short_write(PATH, "append to", 3, 10)
    assert type(error) is QueueFullError
    assert error.errno == errno.ENOSPC
    assert str(error) == ("cannot append to /q/tasks.json: [ENOSPC] short write: 3 of 10 "
                          "bytes written (the file system is full); the queue was left as it "
                          "was before the call")


def test_a_storage_error_of_unknown_outcome_says_the_change_may_have_happened():
    error = StorageError(PATH, "fsync", errno.EIO, "its record was damaged",
                         outcome_unknown=True)
    assert error.outcome_unknown is True
    assert str(error) == ("cannot fsync /q/tasks.json: [EIO] its record was damaged; the "
                          "operation may have happened: whether its change stays is not known")
    copy = copied(error)
    assert (copy.outcome_unknown, str(copy)) == (True, str(error))
    assert StorageError(PATH, "fsync", errno.EIO).outcome_unknown is False
    assert copied(QueueFullError(PATH, "write", errno.ENOSPC)).outcome_unknown is False
