"""A queue shared by several users of one group (containers with different user ids and one
``fsGroup``), whose umasks differ. Every file the queue creates takes the permission bits and
the group of the queue's files, never the creator's umask: a user with a stricter umask (022)
who happens to create ``tasks.json.claims``, ``tasks.json.sync``, the doorbell FIFO, the lock
file or the producer's ids file (and its lock) must not lock the others out. (Root only: the
users are forked children that switch user ids.)"""

import os
import stat

import pytest

from queue_core import FileQueue
from queue_core.doorbell import bell_of, remove_bell
from queue_core.roles.sequence import IdSequence
from tests.support.users import GROUP, USER_A, USER_B, as_user, needs_root, shared_directory

pytestmark = needs_root


@pytest.fixture
def queue_path():
    with shared_directory() as directory:
        path = directory / "tasks.json"
        yield path
        remove_bell(path.with_name("tasks.json.lock"))  # its FIFO goes with the directory


def permissions(path):
    status = os.stat(path)
    return stat.filemode(status.st_mode)[1:], status.st_gid


def test_a_first_claim_by_a_stricter_user_leaves_the_ledger_usable_by_the_group(queue_path):
    as_user(USER_A, 0o002, lambda: FileQueue(queue_path).put_many(["a", "b"]))
    as_user(USER_B, 0o022, lambda: FileQueue(queue_path).claim(lease=30.0).item)
    ledger = queue_path.with_name("tasks.json.claims")
    assert permissions(ledger) == permissions(queue_path) == ("rw-rw-r--", GROUP)
    assert as_user(USER_A, 0o002, lambda: FileQueue(queue_path).claim(lease=30.0).item) == "'b'"


def test_a_sync_file_made_by_a_stricter_user_leaves_the_queue_usable(queue_path):
    as_user(USER_A, 0o002, lambda: FileQueue(queue_path, fsync=True).put("a"))
    queue_path.with_name("tasks.json.sync").unlink()  # harmless while nobody uses the queue
    as_user(USER_B, 0o022, lambda: FileQueue(queue_path, fsync=True).put("b"))
    assert permissions(queue_path.with_name("tasks.json.sync"))[0] == "rw-rw-r--"
    assert as_user(USER_A, 0o002, lambda: FileQueue(queue_path, fsync=True).get()) == "'a'"


def test_a_doorbell_made_by_a_stricter_user_still_rings_for_the_group(queue_path):
    as_user(USER_A, 0o002, lambda: FileQueue(queue_path).close())  # creates the queue
    bell = bell_of(queue_path.with_name("tasks.json.lock"))
    bell.unlink(missing_ok=True)
    as_user(USER_B, 0o022, lambda: FileQueue(queue_path).put("b"))  # the first ring makes it
    assert permissions(bell) == permissions(queue_path.with_name("tasks.json.lock"))

    def rings_heard():
        queue = FileQueue(queue_path)
        queue._bell.ring()  # as a put rings it
        return queue._bell.drain()

    assert as_user(USER_A, 0o002, rings_heard) == "1"


def test_a_lock_file_made_by_a_stricter_user_leaves_the_queue_usable(queue_path):
    as_user(USER_A, 0o002, lambda: FileQueue(queue_path, format="json-array").put("a"))
    queue_path.with_name("tasks.json.lock").unlink()  # a queue the original scripts made
    as_user(USER_B, 0o022, lambda: FileQueue(queue_path, format="json-array").size())
    assert permissions(queue_path.with_name("tasks.json.lock"))[0] == "rw-rw-r--"
    assert as_user(USER_A, 0o002,
                   lambda: FileQueue(queue_path, format="json-array").claim(lease=30.0).item
                   ) == "'a'"


def test_an_ids_file_made_by_a_stricter_user_leaves_the_producers_usable(queue_path):
    ids = queue_path.with_name("tasks.json.ids")
    as_user(USER_A, 0o002, lambda: FileQueue(queue_path).close())  # creates the queue
    as_user(USER_B, 0o022, lambda: IdSequence(ids, like=queue_path).next())  # B starts first
    assert permissions(ids)[0] == permissions(ids.with_name("tasks.json.ids.lock"))[0] == (
        "rw-rw-r--")
    assert as_user(USER_A, 0o002, lambda: IdSequence(ids, like=queue_path).next()) == "2"
