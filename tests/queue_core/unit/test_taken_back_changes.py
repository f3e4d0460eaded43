"""Changes that a failed sync took back, seen by operations still in their commits: a put
whose line was taken back and whose file a compaction then replaced must not return as
durable (the compaction copied only what was left), and a get must not answer "empty" from
another get's head move that a failed sync then takes back."""

import errno

import pytest

from queue_core import FileQueue, StorageError
from queue_core.storage import journal
from tests.support.faulty_disk import FaultyDisk
from tests.support.held_commits import HeldCommits


@pytest.fixture
def disk(monkeypatch):
    return FaultyDisk(monkeypatch)


@pytest.fixture
def compact_when_emptied(monkeypatch):
    monkeypatch.setattr(journal, "COMPACT_EMPTY_BYTES", 0)


def opened(queue_path, count):
    return [FileQueue(queue_path, fsync=True) for _ in range(count)]


def test_a_put_taken_back_before_a_compaction_does_not_return_as_durable(
        queue_path, monkeypatch, disk, compact_when_emptied):
    producer, other, consumer = opened(queue_path, 3)
    other.put("kept")
    held = HeldCommits(producer, monkeypatch)
    producer.put("lost?")  # appended; its commit waits
    disk.fail("fsync", errno.EIO, file="tasks.json")
    with pytest.raises(StorageError):
        other.put("x")  # its sync covers "lost?" and fails: both are taken back
    assert consumer.get() == "kept"  # empties the journal: compacted into a new file
    consumer.put("after")  # the data record now describes the new file
    with pytest.raises(StorageError, match="taken back"):
        held.release()
    assert list(iter(consumer.get, None)) == ["after"]


def test_a_put_a_compaction_copied_returns_after_syncing_its_old_file_too(
        queue_path, monkeypatch, compact_when_emptied):
    producer, consumer = opened(queue_path, 2)
    held = HeldCommits(producer, monkeypatch)
    producer.put("a")  # its commit waits
    assert consumer.get() == "a"  # the compaction makes "a" durable, then copies the rest
    consumer.put("b")
    held.release()  # copied (and taken): it returns
    assert list(iter(consumer.get, None)) == ["b"]


def test_a_put_whose_file_was_replaced_twice_since_cannot_be_told(
        queue_path, monkeypatch, compact_when_emptied):
    producer, consumer = opened(queue_path, 2)
    held = HeldCommits(producer, monkeypatch)
    producer.put("a")
    assert consumer.get() == "a"  # the first compaction
    consumer.put("b")
    assert consumer.get() == "b"  # a second one: the old file's record is gone
    with pytest.raises(StorageError, match="may have happened") as raised:
        held.release()
    assert raised.value.outcome_unknown


def test_an_empty_answer_is_never_given_from_a_head_move_a_failed_sync_takes_back(
        queue_path, monkeypatch, disk):
    producer, first, second = opened(queue_path, 3)
    producer.put("x")  # returned: durable
    held = HeldCommits(first, monkeypatch)
    assert first.get() == "x"  # the head moved past "x"; its sync has not run yet
    disk.fail("fsync", errno.EIO, file="tasks.json.head")  # the next sync of the head fails
    try:
        answer = second.get()  # "empty" only once the head that says so is durable
    except StorageError:
        answer = "raised"  # a get that raised took nothing: allowed
    assert answer != None, "'x' was in the queue all along: its get is taken back"  # noqa: E711
    with pytest.raises(StorageError, match="taken back"):
        held.release()  # the failed head sync covered its move
    assert list(iter(producer.get, None)) == ([] if answer == "x" else ["x"])


def test_an_empty_answer_waits_for_the_head_that_says_so_to_be_durable(queue_path,
                                                                      monkeypatch):
    producer, first, second = opened(queue_path, 3)
    producer.put("x")
    held = HeldCommits(first, monkeypatch)
    assert first.get() == "x"
    assert second.get() is None  # it synced first's head move (durable now): truly empty
    held.release()  # covered by that sync: it returns
