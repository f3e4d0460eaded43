"""Power losses one after another: what the first open after a reboot publishes in
``tasks.json.sync`` must hold against a second power loss. Before the first loss puts were in
flight: ``.sync`` published the end of their appends (it is never synced, so a power loss may
keep that write and lose the appends). A sync after the reboot must not count those appends
as synced: a later put of no more bytes would then return without an fsync, and a get would
make its head durable beyond the durable data."""

import pytest

from queue_core import FileQueue, groupcommit
from tests.support.held_commits import HeldCommits
from tests.support.power_loss import Recording, drained


def always(now):
    """Equal put times: the lines of "L3" and "L4" have the same length."""
    return lambda: now


@pytest.fixture
def rebooted_after_losing_an_append(queue_path, monkeypatch):
    """Puts "L2" and "L3" were written and in their commits when the power went; "L3"'s
    append was lost, ``.sync`` (with the end of "L3" published) was kept. Now the machine
    runs again: the next open is the first since the boot."""
    monkeypatch.setattr(groupcommit, "boot_id", lambda: b"first-boot")
    queue = FileQueue(queue_path, fsync=True, clock=always(1000.0))
    held = HeldCommits(queue, monkeypatch)
    queue.put("L2")
    end_of_l2 = queue_path.stat().st_size
    queue.put("L3")
    held.drop()
    queue.close()
    monkeypatch.undo()
    queue_path.write_bytes(queue_path.read_bytes()[:end_of_l2])  # in place: same inode
    monkeypatch.setattr(groupcommit, "boot_id", lambda: b"second-boot")
    return Recording(queue_path.parent)


def test_a_put_that_returned_after_a_reboot_survives_a_second_power_loss(
        queue_path, tmp_path, monkeypatch, rebooted_after_losing_an_append):
    recording = rebooted_after_losing_an_append
    with recording.intercepting():
        queue = FileQueue(queue_path, fsync=True, clock=always(1000.0))
        assert queue.get() == "L2"
        queue.put("L4")  # returned: durable
        queue.close()
    monkeypatch.setattr(groupcommit, "boot_id", lambda: b"third-boot")
    found = recording.after_power_loss(tmp_path / "states", drained, fsync=True)
    assert [(label, items) for label, items in found if items != ["L4"]] == []


def test_a_get_after_a_reboot_never_leaves_a_head_beyond_the_durable_data(
        queue_path, tmp_path, monkeypatch, rebooted_after_losing_an_append):
    recording = rebooted_after_losing_an_append
    with recording.intercepting():
        queue = FileQueue(queue_path, fsync=True, clock=always(1000.0))
        assert queue.get() == "L2"
        queue.put("L4")
        assert queue.get() == "L4"
        queue.close()
    monkeypatch.setattr(groupcommit, "boot_id", lambda: b"third-boot")
    found = recording.after_power_loss(tmp_path / "states", drained, fsync=True)
    assert [(label, items) for label, items in found if items != []] == []


def test_a_sync_never_counts_bytes_beyond_the_end_of_its_file(queue_path, monkeypatch):
    queue = FileQueue(queue_path, fsync=True)
    held = HeldCommits(queue, monkeypatch)
    queue.put("a")
    storage = queue._storage
    size = queue_path.stat().st_size
    storage._sync.publish_written(storage._data_key(), size + 1000)  # a stale end
    ticket = held.tickets[0]
    assert storage._reach(ticket)() == (size, (0, 0))
