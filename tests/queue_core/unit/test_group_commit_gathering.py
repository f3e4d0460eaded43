"""Group commit's gathering: a process whose changes shared syncs with other processes' waits,
before syncing, while other changes keep coming, so that one sync covers them all; a process
alone never waits. (The processes are queue objects of one process, each with its own
``.sync`` descriptor, as separate processes have.)"""

import os

import pytest

from queue_core import FileQueue, groupcommit
from queue_core.groupcommit import DATA
from tests.queue_core.unit.test_group_commit import Deferred, counting_fsyncs, synced_mark


@pytest.fixture
def steps(monkeypatch):
    """The gathering steps taken from now on; ``steps.during`` runs at each step (another
    process acting meanwhile). The clock advances by a step's length at each step."""

    class Steps(list):
        during = staticmethod(lambda: None)
        clock = 0.0

    taken = Steps()

    def sleep(seconds):
        taken.append(seconds)
        taken.clock += seconds
        taken.during()

    monkeypatch.setattr(groupcommit.time, "sleep", sleep)
    monkeypatch.setattr(groupcommit.time, "monotonic", lambda: taken.clock)
    return taken


def sharing_pair(queue_path, monkeypatch):
    """Two queue objects whose last changes shared one sync: ``first``'s was covered by
    ``second``'s sync."""
    first = FileQueue(queue_path, fsync=True)
    second = FileQueue(queue_path, fsync=True)
    held = Deferred(first, monkeypatch)
    first.put("a")
    second.put("b")  # its sync covers "a" too
    monkeypatch.setattr(first._storage, "commit", held._commit)
    held.release()  # finds "a" covered
    return first, second


def test_a_queue_alone_never_gathers(queue_path, steps):
    with FileQueue(queue_path, fsync=True) as queue:
        for n in range(5):
            queue.put(n)
        assert queue.get() == 0
    assert steps == []


def test_a_process_whose_change_shared_a_sync_gathers_once_when_nothing_else_comes(
        queue_path, monkeypatch, steps):
    first, _ = sharing_pair(queue_path, monkeypatch)
    assert steps == []
    synced = counting_fsyncs(monkeypatch)
    first.put("c")
    assert steps == [groupcommit.GATHER_STEP_SECONDS]
    assert synced == ["tasks.json"]
    assert synced_mark(first, DATA).synced == os.path.getsize(queue_path)


def test_gathering_waits_while_changes_come_and_its_sync_covers_them(
        queue_path, monkeypatch, steps):
    first, second = sharing_pair(queue_path, monkeypatch)
    held = Deferred(second, monkeypatch)  # second's puts are written, their syncs held back
    coming = ["d", "e"]
    steps.during = lambda: coming and second.put(coming.pop(0))
    synced = counting_fsyncs(monkeypatch)
    first.put("c")
    assert len(steps) == 3  # "d" and "e" came during steps 1 and 2, nothing during step 3
    assert synced == ["tasks.json"]
    assert synced_mark(first, DATA).synced == os.path.getsize(queue_path)
    held.release()  # first's sync covered them
    assert synced == ["tasks.json"]


def test_gathering_ends_when_another_sync_covers_the_change(queue_path, monkeypatch, steps):
    first, second = sharing_pair(queue_path, monkeypatch)
    steps.during = lambda: second.put("d")  # second syncs: it covers "c"
    synced = counting_fsyncs(monkeypatch)
    first.put("c")
    assert len(steps) == 1
    assert synced == ["tasks.json"]  # second's sync only
    assert synced_mark(first, DATA).synced == os.path.getsize(queue_path)


def test_gathering_lasts_at_most_its_longest_wait(queue_path, monkeypatch, steps):
    first, second = sharing_pair(queue_path, monkeypatch)
    Deferred(second, monkeypatch)
    steps.during = lambda: second.put("more")  # changes never stop coming
    synced = counting_fsyncs(monkeypatch)
    first.put("c")
    assert steps.clock == pytest.approx(groupcommit.GATHER_MAX_SECONDS)
    assert len(steps) == round(groupcommit.GATHER_MAX_SECONDS
                               / groupcommit.GATHER_STEP_SECONDS)
    assert synced == ["tasks.json"]
    assert synced_mark(first, DATA).synced == os.path.getsize(queue_path)


def test_a_process_that_synced_only_its_own_change_stops_gathering(
        queue_path, monkeypatch, steps):
    first, _ = sharing_pair(queue_path, monkeypatch)
    first.put("c")  # gathers once, then syncs "c" alone
    first.put("d")
    first.put("e")
    assert len(steps) == 1


def test_a_sync_that_covered_a_later_change_of_another_process_makes_the_syncer_gather(
        queue_path, monkeypatch, steps):
    first = FileQueue(queue_path, fsync=True)
    second = FileQueue(queue_path, fsync=True)
    held_first, held_second = Deferred(first, monkeypatch), Deferred(second, monkeypatch)
    first.put("a")
    second.put("b")
    held_first.release()  # its sync covers "b" too
    monkeypatch.setattr(first._storage, "commit", held_first._commit)
    first.put("c")
    assert len(steps) == 1
    held_second.release()  # "b" is covered
    monkeypatch.setattr(second._storage, "commit", held_second._commit)
    second.put("d")
    assert len(steps) == 2
