"""Every error the queue raises, word for word: the message is what an operator reads.

Each case builds the bad input, catches the error, and compares its whole text (and the
attributes that name the file and the problem) with what the user should see.
"""

import errno
import math
import os
from pathlib import Path

import pytest

from queue_core import (
    ClaimError,
    CorruptQueueError,
    FileQueue,
    InvalidItemError,
    QueueDirectoryError,
)
from queue_core.ledger import Ledger
from queue_core.locking import FileLock

UNTOUCHED = "; it was left untouched: repair it, or "


def corrupt(path, problem, move_away=None):
    """The whole message for ``path``; ``move_away``: every file of the queue (default: only
    ``path``, the json-array format's one file)."""
    move_away = move_away or [path]
    if len(move_away) == 1:
        advice = f"move {move_away[0]} away"
    else:
        advice = ("stop every process using the queue, then move "
                  f"{', '.join(map(str, move_away))} away together")
    return f"queue file {path} is corrupt: {problem}{UNTOUCHED}{advice} to start an empty queue"


def journal_files(queue_path):
    return [queue_path, queue_path.with_name(queue_path.name + ".head")]


def raised(kind, action):
    with pytest.raises(kind) as caught:
        action()
    return caught.value


# -- corrupt files ------------------------------------------------------------------------

JSON_ARRAY_FILES = {
    "empty": (b"", "the file is empty (a JSON array was expected)"),
    "blank": (b" \n", "the file is empty (a JSON array was expected)"),
    "object": (b'{"a": 1}', "it holds a JSON object, not a JSON array"),
    "string": (b'"text"', "it holds a JSON string, not a JSON array"),
    "boolean": (b"true", "it holds a JSON boolean, not a JSON array"),
    "integer": (b"7", "it holds a JSON number, not a JSON array"),
    "float": (b"2.5", "it holds a JSON number, not a JSON array"),
    "null": (b"null", "it holds a JSON null, not a JSON array"),
    "not JSON": (b"[1,", "it is not valid JSON (Expecting value: line 1 column 4 (char 3))"),
}


@pytest.mark.parametrize("name", sorted(JSON_ARRAY_FILES))
def test_a_corrupt_json_array_file_is_described_exactly(queue_path, name):
    content, problem = JSON_ARRAY_FILES[name]
    queue_path.parent.mkdir(parents=True)
    queue_path.write_bytes(content)
    error = raised(CorruptQueueError, lambda: FileQueue(queue_path, format="json-array"))
    assert (str(error), error.path, error.problem) == (
        corrupt(queue_path, problem), queue_path, problem)


JOURNAL_FILES = {
    "empty": (b"", "it is empty"),
    "no newline": (b"queue", "its first line is not a journal header"),
    "not JSON": (b"queue journal\n", "its first line is not a journal header"),
    "a list": (b"[1, 2]\n", "its first line is not a journal header (it looks like a JSON "
               "array: open it with format='json-array')"),
    "an indented array": (b"  [\n1]\n", "its first line is not a journal header (it looks like "
                          "a JSON array: open it with format='json-array')"),
    "other format": (b'{"format":"queue-claims","version":2}\n',
                     "its first line is not a queue-journal header"),
    "no generation": (b'{"format":"queue-journal","version":2}\n',
                      "its first line is not a journal header"),
    "no queue id": (b'{"format":"queue-journal","version":3,"generation":1}\n',
                    "its first line is not a journal header"),
    "a queue id not a string": (b'{"format":"queue-journal","version":3,"generation":1,'
                                b'"queue":7}\n', "its first line is not a journal header"),
    "other version": (b'{"format":"queue-journal","version":4,"generation":1,"queue":"a"}\n',
                      "it is queue-journal version 4; this queue reads versions 2, 3"),
}


@pytest.mark.parametrize("name", sorted(JOURNAL_FILES))
def test_a_corrupt_journal_is_described_exactly(queue_path, name):
    content, problem = JOURNAL_FILES[name]
    queue_path.parent.mkdir(parents=True)
    queue_path.write_bytes(content)
    error = raised(CorruptQueueError, lambda: FileQueue(queue_path, format="journal"))
    assert (str(error), error.problem) == (
        corrupt(queue_path, problem, journal_files(queue_path)), problem)
    assert error.move_away == journal_files(queue_path)
    assert queue_path.read_bytes() == content


@pytest.mark.parametrize(("line", "why"), [
    (b"1 1700000000.0", "missing a field"),
    (b"x 1700000000.0 1", "invalid literal for int() with base 10: b'x'"),
    (b"1 later 1", "could not convert string to float: b'later'"),
    (b"1 1700000000.0 \xff", "'utf-8' codec can't decode byte 0xff in position 0: "
     "invalid start byte"),
])
def test_a_corrupt_journal_line_names_its_byte_offset(queue_path, line, why):
    q = FileQueue(queue_path, format="journal")
    header = queue_path.read_bytes()  # the header line alone: the queue is new
    with open(queue_path, "ab") as journal:
        journal.write(line + b"\n")
    error = raised(CorruptQueueError, q.get)
    assert str(error) == corrupt(
        queue_path, f"the line at byte {len(header)} is not '<number> <put time> <JSON>' ({why})",
        journal_files(queue_path))


def test_a_corrupt_ledger_is_described_exactly(queue_path, queue_format):
    q = FileQueue(queue_path, format=queue_format)
    q.put("a")
    q.claim()
    ledger = Ledger(queue_path).path
    every_file = [*(journal_files(queue_path) if queue_format == "journal" else [queue_path]),
                  ledger]
    header = ledger.read_bytes().splitlines(keepends=True)[0]
    ledger.write_bytes(header + b'{"op":"claim","order":9,"until":1}\n')
    error = raised(CorruptQueueError, lambda: FileQueue(queue_path, format=queue_format))
    assert str(error) == corrupt(
        ledger, f"a record after byte {len(header)} cannot be applied (KeyError: 9): "
        """b'{"op":"claim","order":9,"until":1}'""", every_file)
    ledger.write_bytes(b'{"format":"queue-claims","version":2}\n')
    error = raised(CorruptQueueError, lambda: FileQueue(queue_path, format=queue_format))
    assert str(error) == corrupt(
        ledger, "its first line is not a queue-claims version 1 header", every_file)


def test_a_long_bad_ledger_record_is_shown_cut_to_200_bytes(queue_path):
    q = FileQueue(queue_path)
    q.put("a")
    q.claim()
    ledger = Ledger(queue_path).path
    record = b'{"op":"bogus","pad":"' + b"x" * 300 + b'"}'
    with open(ledger, "ab") as log:
        log.write(record + b"\n")
    error = raised(CorruptQueueError, lambda: FileQueue(queue_path))
    header = ledger.read_bytes().splitlines(keepends=True)[0]  # a fresh replay starts there
    assert str(error) == corrupt(
        ledger, f"a record after byte {len(header)} cannot be "
        f"applied (ValueError: unknown record 'bogus'): {record[:200]!r}",
        [*journal_files(queue_path), ledger])


# -- directories --------------------------------------------------------------------------

def test_a_directory_problem_names_the_directory_and_the_reason(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    error = raised(QueueDirectoryError, lambda: FileQueue(blocker / "tasks.json"))
    assert (str(error), error.directory, error.reason) == (
        f"cannot use queue directory {blocker}: a file, not a directory, is in the way",
        blocker, "a file, not a directory, is in the way")
    error = raised(QueueDirectoryError, lambda: FileQueue(blocker / "sub" / "tasks.json"))
    assert str(error) == (f"cannot use queue directory {blocker / 'sub'}: "
                          "a part of the path is not a directory")


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES])
def test_a_full_or_read_only_disk_is_a_directory_problem(tmp_path, monkeypatch, code):
    def refuse(self, *args, **kwargs):
        raise OSError(code, "refused")

    monkeypatch.setattr(Path, "mkdir", refuse)
    error = raised(QueueDirectoryError, lambda: FileQueue(tmp_path / "q" / "tasks.json"))
    reason = ("permission denied ([Errno 13] refused)" if code == errno.EACCES
              else os.strerror(code))
    assert (error.directory, error.reason) == (tmp_path / "q", reason)


def test_another_os_error_is_not_disguised_as_a_directory_problem(tmp_path, monkeypatch):
    def fail(self, *args, **kwargs):
        raise OSError(errno.EIO, "i/o error")

    monkeypatch.setattr(Path, "mkdir", fail)
    error = raised(OSError, lambda: FileQueue(tmp_path / "q" / "tasks.json"))
    assert type(error) is OSError and error.errno == errno.EIO


def test_the_lock_file_names_a_missing_or_wrong_directory(tmp_path):
    missing = tmp_path / "missing"
    error = raised(QueueDirectoryError, lambda: FileLock(missing / "q.lock"))
    assert (str(error), error.directory, error.reason) == (
        f"cannot use queue directory {missing}: it does not exist", missing, "it does not exist")
    blocker = tmp_path / "file"
    blocker.write_text("")
    error = raised(QueueDirectoryError, lambda: FileLock(blocker / "q.lock"))
    assert (error.directory, error.reason) == (blocker, "it is not a directory")


def test_an_unopenable_lock_file_is_named(tmp_path, monkeypatch):
    def deny(path, *args):
        raise PermissionError(errno.EACCES, "denied", str(path))

    monkeypatch.setattr(os, "open", deny)
    error = raised(QueueDirectoryError, lambda: FileLock(tmp_path / "q.lock"))
    assert (error.directory, error.reason) == (
        tmp_path, "no permission to create or open the lock file q.lock")


# -- the API ------------------------------------------------------------------------------

def test_bad_arguments_are_described_exactly(queue_path):
    error = raised(ValueError, lambda: FileQueue(queue_path, format="csv"))
    assert str(error) == "unknown queue format 'csv'; choose one of journal, json-array"
    error = raised(ValueError, lambda: FileQueue(queue_path, max_attempts=0))
    assert str(error) == "max_attempts must be an integer of 1 or more, not 0"
    q = FileQueue(queue_path)
    error = raised(InvalidItemError, lambda: q.put(None))
    assert str(error) == "None cannot be queued: get() returns None to mean 'empty'"
    error = raised(InvalidItemError, lambda: q.put({1, 2}))
    assert str(error) == ("item {1, 2} cannot be queued: it is not JSON-serialisable "
                          "(Object of type set is not JSON serializable)")
    q.put("a")
    error = raised(ValueError, lambda: q.claim(lease=0))
    assert str(error) == "lease must be a finite number of seconds greater than 0, not 0"
    claim = q.claim()
    error = raised(ValueError, lambda: q.extend(claim, math.inf))
    assert str(error) == "lease must be a finite number of seconds greater than 0, not inf"
    error = raised(ValueError, lambda: q.nack(claim, delay=-1))
    assert str(error) == "delay must be a finite number of seconds 0 or more, not -1"
    q.nack(claim, delay=0)  # 0 is a valid delay, not a valid lease


def test_a_refused_claim_says_what_and_why(queue_path):
    clock = [1000.0]
    q = FileQueue(queue_path, clock=lambda: clock[0], max_attempts=2)
    q.put("a")
    q.put("b")
    first = q.claim(lease=5)
    q.ack(first)
    error = raised(ClaimError, lambda: q.ack(first))
    assert str(error) == ("cannot acknowledge claim 1.1: its item is no longer in the queue "
                          "(acknowledged already, or taken by get)")
    second = q.claim(lease=5)
    q.nack(second)
    error = raised(ClaimError, lambda: q.extend(second, 5))
    assert str(error) == "cannot extend claim 2.1: its item was given back with nack already"
    again = q.claim(lease=5)
    error = raised(ClaimError, lambda: q.nack(second))
    assert str(error) == ("cannot give back claim 2.1: it ended (lease over at 1005.000000, or "
                          "given back) and the item was delivered again (delivery 2)")
    clock[0] += 5
    assert q.claim() is None  # the claim moves the spent item to the dead letters
    error = raised(ClaimError, lambda: q.ack(again))
    assert str(error) == "cannot acknowledge claim 2.2: its item went to the dead letters"
