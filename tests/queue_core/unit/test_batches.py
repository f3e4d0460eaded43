"""Batches: put_many, get_many, claim_many, ack_many move many items under one lock in one
write, all or nothing: under bad input, a failing disk, and a process killed in the middle."""

import contextlib
import errno
import multiprocessing
import os
import random
import threading

import pytest

from queue_core import ClaimError, FileQueue, InvalidItemError
from queue_core.errors import StorageError
from queue_core.roles.lifecycle import Lifecycle
from queue_core.roles.producer import produce
from queue_core.roles.sequence import IdSequence
from tests.support.faulty_disk import FaultyDisk

FORK = multiprocessing.get_context("fork")


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def q(queue_path, queue_format, clock):
    return FileQueue(queue_path, format=queue_format, clock=clock)


def everything(queue):
    return list(iter(queue.get, None))


def test_a_batch_goes_in_and_comes_out_in_order(q):
    q.put("first")
    q.put_many([{"n": n} for n in range(5)])
    q.put("last")
    assert q.get_many(3) == ["first", {"n": 0}, {"n": 1}]
    assert q.get_many(100) == [{"n": 2}, {"n": 3}, {"n": 4}, "last"]
    assert q.get_many(10) == []
    q.put_many([])
    assert q.size() == 0


def test_a_batch_with_an_item_that_cannot_be_queued_puts_none(q):
    with pytest.raises(InvalidItemError):
        q.put_many(["fine", None, "also fine"])
    with pytest.raises(InvalidItemError):
        q.put_many(["fine", {1, 2}])
    assert q.size() == 0


@pytest.mark.parametrize("max_items", [0, -1, 1.5, True])
def test_a_bad_batch_size_is_refused(q, max_items):
    with pytest.raises(ValueError, match="max_items must be an integer"):
        q.get_many(max_items)
    with pytest.raises(ValueError, match="max_items must be an integer"):
        q.claim_many(max_items)


def test_claim_many_holds_every_item_and_ack_many_removes_them(q, clock):
    q.put_many(["a", "b", "c"])
    claims = q.claim_many(2, lease=10)
    assert [c.item for c in claims] == ["a", "b"]
    assert len({c.id for c in claims}) == 2
    assert q.stats()[:2] == (1, 2)
    q.ack_many(claims)
    assert q.stats()[:2] == (1, 0)
    clock.now += 20
    assert everything(q) == ["c"]


def test_expired_claims_come_back_as_one_batch_before_the_storage(q, clock):
    q.put_many(["a", "b", "c"])
    q.claim_many(2, lease=10)
    clock.now += 10
    again = q.claim_many(10, lease=10)
    assert [(c.item, c.attempt) for c in again] == [("a", 2), ("b", 2)]
    clock.now += 10
    assert q.get_many(10) == ["a", "b"], "a batch comes from one place"
    assert q.get_many(10) == ["c"]


def test_ack_many_with_one_claim_that_ended_acknowledges_none(q, clock):
    q.put_many(["a", "b"])
    first, second = q.claim_many(2, lease=10)
    q.ack(second)
    with pytest.raises(ClaimError):
        q.ack_many([first, second])
    with pytest.raises(ClaimError, match="twice"):
        q.ack_many([first, first])
    assert q.stats().in_flight == 1
    q.ack_many([first])
    assert q.stats()[:2] == (0, 0)


def test_get_many_waits_for_the_first_item(q):
    got = []
    waiter = threading.Thread(target=lambda: got.append(q.get_many(10, timeout=60)))
    waiter.start()
    q.put_many(["x", "y"])
    waiter.join(60)
    assert got[0][0] == "x" and got[0] + q.get_many(10) == ["x", "y"]
    assert q.claim_many(5, timeout=0.01) == []


# -- a failing disk ------------------------------------------------------------------------


@pytest.fixture
def disk(monkeypatch):
    return FaultyDisk(monkeypatch)


@pytest.mark.parametrize("fsync", [False, True])
@pytest.mark.parametrize("call", ["write", "fsync", "replace"])
def test_a_put_many_that_fails_leaves_none_of_its_items(queue_path, queue_format, disk,
                                                        call, fsync):
    if call == "fsync" and not fsync:
        pytest.skip("nothing is synced")
    q = FileQueue(queue_path, format=queue_format, fsync=fsync)
    q.put("before")
    disk.fail(call, errno.ENOSPC if call == "write" else errno.EIO, times=None)
    try:
        q.put_many([f"item-{n}" for n in range(50)])
    except StorageError:
        pass
    else:
        assert not disk.injected, "no failing call was made: the batch may stay"
        pytest.skip(f"{queue_format} makes no {call} call for a put")
    disk.heal()
    assert everything(FileQueue(queue_path, format=queue_format)) == ["before"]


@pytest.mark.parametrize("fsync", [False, True])
@pytest.mark.parametrize("call", ["write", "pwrite", "fsync", "replace"])
def test_a_get_many_that_fails_leaves_all_of_its_items(queue_path, queue_format, disk,
                                                       call, fsync):
    if call == "fsync" and not fsync:
        pytest.skip("nothing is synced")
    q = FileQueue(queue_path, format=queue_format, fsync=fsync)
    items = [f"item-{n}" for n in range(50)]
    q.put_many(items)
    disk.fail(call, errno.EIO, times=None)
    try:
        taken = q.get_many(20)
    except StorageError:
        taken = []
    disk.heal()
    if not disk.injected:
        pytest.skip(f"{queue_format} makes no {call} call for a get")
    assert taken == [], "a get that failed took nothing"
    assert everything(FileQueue(queue_path, format=queue_format)) == items


@pytest.mark.parametrize("call", ["write", "pwrite", "replace"])
def test_a_claim_many_that_fails_claims_none(queue_path, queue_format, disk, clock, call):
    q = FileQueue(queue_path, format=queue_format, clock=clock)
    q.put_many(["a", "b", "c"])
    q.ack(q.claim())  # the ledger exists
    disk.fail(call, errno.EIO, times=None)
    with contextlib.suppress(StorageError):
        q.claim_many(2, lease=10)
    disk.heal()
    if not disk.injected:
        pytest.skip(f"{queue_format} makes no {call} call for a claim")
    other = FileQueue(queue_path, format=queue_format, clock=clock)
    assert other.stats()[:2] == (2, 0)
    assert [c.item for c in other.claim_many(5, lease=10)] == ["b", "c"]


# -- a process killed in the middle -----------------------------------------------------------


CHANGING_CALLS = ("write", "pwrite", "fsync", "ftruncate", "replace")


def _die_at_call(point, work):
    """Run ``work`` in this (child) process, killed (``os._exit``) just before its
    ``point``-th file-changing call; exit code 3 if it finished first."""
    made = [0]
    for name in CHANGING_CALLS:
        real = getattr(os, name)

        def dying(*args, _real=real):
            if made[0] == point:
                os._exit(0)
            made[0] += 1
            return _real(*args)

        setattr(os, name, dying)
    work()
    os._exit(3)


def crash_points(work):
    """Run ``work`` in a child killed before each of its file-changing calls in turn, then
    once to the end; yield after each run (the caller checks the queue)."""
    point = 0
    while True:
        child = FORK.Process(target=_die_at_call, args=(point, work))
        child.start()
        child.join(60)
        yield point
        if child.exitcode == 3:
            return
        assert child.exitcode == 0
        point += 1


@pytest.mark.parametrize("fsync", [False, True])
def test_a_put_many_killed_at_any_call_leaves_all_or_none(queue_path, queue_format, fsync):
    items = [f"item-{n}" for n in range(30)]
    FileQueue(queue_path, format=queue_format).put("before")
    snapshot = {p: p.read_bytes() for p in queue_path.parent.iterdir() if p.is_file()}
    work = lambda: FileQueue(queue_path, format=queue_format, fsync=fsync).put_many(items)  # noqa: E731
    outcomes = set()
    for _ in crash_points(work):
        found = everything(FileQueue(queue_path, format=queue_format))
        assert found in (["before"], ["before", *items]), found
        outcomes.add(len(found))
        for path, data in snapshot.items():  # back to the state before the batch
            path.write_bytes(data)
    assert outcomes == {1, 31}, "crash points before and after the write were both reached"


@pytest.mark.parametrize("fsync", [False, True])
def test_a_get_many_killed_at_any_call_takes_all_or_none(queue_path, queue_format, fsync):
    items = [f"item-{n}" for n in range(30)]
    FileQueue(queue_path, format=queue_format).put_many(items)
    snapshot = {p: p.read_bytes() for p in queue_path.parent.iterdir() if p.is_file()}
    work = lambda: FileQueue(queue_path, format=queue_format, fsync=fsync).get_many(20)  # noqa: E731
    outcomes = set()
    for _ in crash_points(work):
        found = everything(FileQueue(queue_path, format=queue_format))
        assert found in (items, items[20:]), found
        outcomes.add(len(found))
        for path, data in snapshot.items():
            path.write_bytes(data)
    assert outcomes == {10, 30}


def test_a_claim_many_killed_at_any_call_claims_all_or_none(queue_path, queue_format):
    items = ["a", "b", "c", "d"]
    FileQueue(queue_path, format=queue_format).put_many(items)
    work = lambda: FileQueue(queue_path, format=queue_format).claim_many(3, lease=3600)  # noqa: E731
    outcomes = set()
    for point in crash_points(work):
        reopened = FileQueue(queue_path, format=queue_format)
        stats = reopened.stats()
        assert (stats.waiting, stats.in_flight) in ((4, 0), (1, 3)), (point, stats)
        outcomes.add(stats.in_flight)
        for path in queue_path.parent.iterdir():  # start again from a fresh queue
            path.unlink()
        FileQueue(queue_path, format=queue_format).put_many(items)
    assert outcomes == {0, 3}


def test_the_producer_puts_tasks_in_batches(queue, tmp_path):
    count = produce(queue, IdSequence(tmp_path / "ids"), Lifecycle(), random.Random(1),
                    interval=(0, 0), time_scale=1.0, max_tasks=7, batch=3)
    assert count == 7
    assert [t["id"] for t in queue.get_many(10)] == [1, 2, 3, 4, 5, 6, 7]


# -- in this process: what the killed children above cannot show mutation testing -----------


class Killed(BaseException):
    """Stands for a kill: no cleanup of the queue's runs."""


def test_a_claim_many_cut_short_before_its_items_left_the_storage_repeats_nothing(
        queue_path, queue_format, clock, monkeypatch):
    q = FileQueue(queue_path, format=queue_format, clock=clock)
    q.put_many(["a", "b", "c", "d"])
    q.ack(q.claim())  # the ledger exists: "a" is done

    def killed(self, count):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(type(q._storage), "pop_many", killed)
        with pytest.raises(Killed):
            q.claim_many(2, lease=10)
    reopened = FileQueue(queue_path, format=queue_format, clock=clock)
    assert reopened.stats()[:2] == (3, 0), "the batch never returned: its items wait, once"
    claims = reopened.claim_many(5, lease=10)
    assert [(c.item, c.attempt) for c in claims] == [("b", 1), ("c", 1), ("d", 1)]


def test_claims_of_a_batch_say_when_and_until_and_number_on(queue_path, queue_format, clock):
    q = FileQueue(queue_path, format=queue_format, clock=clock)
    q.put_many(["a", "b", "c", "d"])
    [first] = q.claim_many(1, lease=5)
    assert (first.order, first.claimed_at, first.until) == (1, clock.now, clock.now + 5)
    batch = q.claim_many(2, lease=7)
    assert [(c.item, c.order, c.claimed_at, c.until) for c in batch] == [
        ("b", 2, clock.now, clock.now + 7), ("c", 3, clock.now, clock.now + 7)]
    q.ack(first)
    clock.now += 7
    again = q.claim_many(1, lease=3)
    assert [(c.item, c.attempt, c.claimed_at, c.until) for c in again] == [
        ("b", 2, clock.now, clock.now + 3)], "one of the two ready entries, as asked"
    q.ack_many([*again, *q.claim_many(5, lease=3)])
    assert q.get_many(5) == ["d"]


def test_a_batch_moves_spent_items_to_the_dead_letters(queue_path, queue_format, clock):
    q = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=1)
    q.put_many(["a", "b"])
    q.claim_many(2, lease=5)
    clock.now += 5
    assert q.claim_many(2, lease=5) == []
    assert [d.item for d in q.dead()] == ["a", "b"]
    assert q.get_many(2) == []
    more_attempts = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=3)
    assert more_attempts.claim_many(2) == [], "moved for good: dead letters, not spent entries"


def test_a_json_array_batch_whose_settled_mark_fails_still_returns_its_claims(
        queue_path, clock, monkeypatch):
    from queue_core.errors import StorageError
    from queue_core.ledger import Ledger

    q = FileQueue(queue_path, format="json-array", clock=clock)
    q.put_many(["a", "b", "c"])
    real_append = Ledger.append

    def settled_fails(self, *records, **options):
        if records and records[0]["op"] == "settled":
            raise StorageError(self.path, "append to", 5)
        return real_append(self, *records, **options)

    with monkeypatch.context() as patch:
        patch.setattr(Ledger, "append", settled_fails)
        claims = q.claim_many(2, lease=10)
    assert [c.item for c in claims] == ["a", "b"]
    reopened = FileQueue(queue_path, format="json-array", clock=clock)
    assert reopened.stats()[:2] == (1, 2)
    assert reopened.get_many(5) == ["c"]


def fsynced_names(monkeypatch):
    names = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        names.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return names


def test_a_first_batch_claim_syncs_the_claims_flag_with_fsync(queue_path, queue_format,
                                                              monkeypatch):
    q = FileQueue(queue_path, format=queue_format, fsync=True)
    q.put_many(["a", "b"])
    names = fsynced_names(monkeypatch)
    q.claim_many(2)
    assert "tasks.json.lock" in names


def test_a_lost_claims_flag_is_raised_and_synced_again_with_fsync(queue_path, queue_format,
                                                                  monkeypatch):
    q = FileQueue(queue_path, format=queue_format)
    q.put("a")
    q.claim()
    q.close()
    os.truncate(queue_path.with_name("tasks.json.lock"), 0)  # lost in a power loss
    names = fsynced_names(monkeypatch)
    reopened = FileQueue(queue_path, format=queue_format, fsync=True)
    assert "tasks.json.lock" in names
    assert reopened.stats().in_flight == 1


def test_batches_of_one_and_ready_entries_taken_as_asked(q, clock):
    q.put_many(["a", "b", "c"])
    assert q.get_many(1) == ["a"]
    assert [c.item for c in q.claim_many(1)] == ["b"]
    q.claim(lease=5)
    clock.now += 30
    assert q.get_many(1) == ["b"], "one of the two ready entries"
    assert q.get_many(1) == ["c"]


def test_a_get_many_moves_spent_items_to_the_dead_letters(queue_path, queue_format, clock):
    q = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=1)
    q.put_many(["a", "b", "c"])
    q.claim_many(2, lease=5)
    clock.now += 5
    assert q.get_many(5) == ["c"]
    assert [d.item for d in q.dead()] == ["a", "b"]
    more_attempts = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=3)
    assert more_attempts.get_many(5) == [], "moved for good: dead letters, not spent entries"


def test_ack_many_s_refusals_word_for_word(q):
    q.put_many(["a", "b"])
    first, second = q.claim_many(2, lease=10)
    q.ack(second)
    with pytest.raises(ClaimError) as caught:
        q.ack_many([first, second])
    assert str(caught.value) == ("cannot acknowledge claim 2.1: its item is no longer in the "
                                 "queue (acknowledged already, or taken by get)")
    with pytest.raises(ClaimError) as caught:
        q.ack_many([first, first])
    assert str(caught.value) == "cannot acknowledge the same claim twice in one batch"


@pytest.mark.parametrize("method", ["claim_many", "get_many"])
def test_a_batch_from_the_ledger_moves_spent_items_to_the_dead_letters(
        queue_path, queue_format, clock, method):
    """Ready entries and spent ones together: the batch takes the ready, moves the spent."""
    q = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=2)
    q.put_many(["a", "b"])
    q.claim_many(1, lease=5)
    clock.now += 5
    q.claim_many(1, lease=5)   # "a" again: its 2nd and last attempt
    q.claim_many(1, lease=5)   # "b"
    clock.now += 5
    got = getattr(q, method)(5)
    assert [getattr(x, "item", x) for x in got] == ["b"]
    more_attempts = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=3)
    assert [d.item for d in more_attempts.dead()] == ["a"]
    assert more_attempts.get_many(5) == [], "moved for good by the batch"


def test_a_batch_claim_whose_removal_fails_is_taken_back_even_when_every_change_compacts(
        queue_path, queue_format, clock, monkeypatch):
    """A failed batch claim leaves its items waiting and the dead letters dead, even when the
    ledger is replaced by a snapshot on every change."""
    from queue_core import ledger as ledger_module

    monkeypatch.setattr(ledger_module, "COMPACT_MIN_BYTES", 0)
    monkeypatch.setattr(ledger_module, "COMPACT_RATIO", 0)
    q = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=1)
    q.put_many(["dead", "b", "c"])
    q.claim(lease=1)
    clock.now += 1
    assert [d.item for d in q.dead()] == ["dead"]
    q.put("after")  # the ledger's snapshot holds the dead letter, at its end

    def failing(self, count):
        raise StorageError(queue_path, "write", errno.EIO)

    with monkeypatch.context() as patch:
        patch.setattr(type(q._storage), "pop_many", failing)
        with pytest.raises(StorageError):
            q.claim_many(2, lease=10)
    reopened = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=1)
    assert reopened.stats()[:4] == (3, 0, 0, 1)
    assert [d.item for d in reopened.dead()] == ["dead"]
    assert [c.item for c in reopened.claim_many(5, lease=10)] == ["b", "c", "after"]


def test_a_batch_taken_from_the_storage_moves_spent_items_to_the_dead_letters(
        queue_path, queue_format, clock):
    q = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=1)
    q.put_many(["a", "b"])
    q.claim_many(1, lease=5)  # "a": its one attempt
    clock.now += 5
    assert [c.item for c in q.claim_many(5, lease=5)] == ["b"], "from the storage"
    more_attempts = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=3)
    assert [d.item for d in more_attempts.dead()] == ["a"]
    assert more_attempts.get_many(5) == [], "moved for good by the batch"


def test_a_batch_gives_back_each_item_exactly_as_put(queue):
    items = ["a,b", [1, 2], {"k": "v,w"}, 3.5, "]", "[", 0, False, "", [], {}]
    queue.put_many(items)
    assert queue.get_many(20) == items


def test_a_batch_whose_texts_are_not_one_value_each_is_refused_as_each_would_be():
    from queue_core.items import decode_items

    assert decode_items(['"x"']) == ["x"]
    with pytest.raises(ValueError, match="Extra data"):
        decode_items(["1,2", "3"])  # one array of three would hide the damage
    with pytest.raises(ValueError):
        decode_items(["[1", "2]"])
