"""A compaction renames a new file over the journal's data file or over the claims ledger;
with ``fsync`` its directory is then synced. When that directory sync fails, the compaction
is abandoned, but the new file is already in place and every process uses it from then on:
nothing may be written into it before its directory entry is durable, else a power loss
brings the old name back without what was written (a put, a claim that returned)."""

import pytest

from queue_core import FileQueue, StorageError, ledger
from queue_core.storage import journal
from tests.support.fake_clock import FakeClock
from tests.support.power_loss import Recording, drained

LATER = 4.0e9  # every lease is over


@pytest.fixture
def directory(tmp_path):
    made = tmp_path / "queue"
    made.mkdir()
    return made


@pytest.fixture
def compact_when_emptied(monkeypatch):
    monkeypatch.setattr(journal, "COMPACT_EMPTY_BYTES", 0)


def test_a_put_after_a_compaction_whose_directory_sync_failed_survives_a_power_loss(
        directory, tmp_path, compact_when_emptied):
    recording = Recording(directory)
    with recording.intercepting():
        queue = FileQueue(directory / "tasks.json", fsync=True)
        queue.put("a")
        recording.fail_next("fsync", directory=True)  # the compaction's directory sync
        assert queue.get() == "a"  # empties the journal: a new generation is renamed in
        queue.put("b")  # returned: durable
        queue.close()
    found = recording.after_power_loss(tmp_path / "states", drained, fsync=True)
    assert [(label, items) for label, items in found if items != ["b"]] == []


def test_an_operation_that_cannot_sync_the_directory_of_a_new_generation_writes_nothing(
        directory, tmp_path, compact_when_emptied):
    recording = Recording(directory)
    with recording.intercepting():
        queue = FileQueue(directory / "tasks.json", fsync=True)
        queue.put("a")
        recording.fail_next("fsync", directory=True)  # the compaction's
        assert queue.get() == "a"
        recording.fail_next("fsync", directory=True)  # and the next operation's
        with pytest.raises(StorageError, match="cannot fsync"):
            queue.put("b")
        queue.put("c")  # syncs the directory first, then writes
        queue.close()
    found = recording.after_power_loss(tmp_path / "states", drained, fsync=True)
    assert [(label, items) for label, items in found if items != ["c"]] == []


def test_another_process_syncs_the_directory_before_writing_into_a_generation_it_finds(
        directory, tmp_path, compact_when_emptied):
    recording = Recording(directory)
    with recording.intercepting():
        producer = FileQueue(directory / "tasks.json", fsync=True)
        consumer = FileQueue(directory / "tasks.json", fsync=True)
        producer.put("a")
        recording.fail_next("fsync", directory=True)
        assert consumer.get() == "a"  # compacts; its directory sync fails
        producer.put("b")  # the producer's descriptor names the old file: it turns over
        producer.close()
        consumer.close()
    found = recording.after_power_loss(tmp_path / "states", drained, fsync=True)
    assert [(label, items) for label, items in found if items != ["b"]] == []


def test_a_claim_after_a_ledger_compaction_whose_directory_sync_failed_survives_a_power_loss(
        directory, tmp_path, monkeypatch):
    monkeypatch.setattr(ledger, "COMPACT_MIN_BYTES", 0)  # compact once history is 4x the state
    recording = Recording(directory)
    with recording.intercepting():
        queue = FileQueue(directory / "tasks.json", fsync=True, clock=FakeClock())
        queue.put_many([f"done-{n}" for n in range(5)] + ["b"])
        for _ in range(4):
            queue.ack(queue.claim(lease=30.0))
        last = queue.claim(lease=30.0)
        recording.fail_next("fsync", directory=True)  # the snapshot's directory sync
        queue.ack(last)  # 10 records for 2 live: the ledger is compacted here
        assert queue.claim(lease=30.0).item == "b"  # returned: recorded durably
        queue.close()

    def claimed_once_the_leases_are_over(queue):
        return [c.item for c in iter(lambda: queue.claim(lease=30.0), None)]

    found = recording.after_power_loss(tmp_path / "states", claimed_once_the_leases_are_over,
                                       fsync=True, clock=lambda: LATER)
    assert [(label, items) for label, items in found if items != ["b"]] == []


def test_a_first_claim_whose_ledger_directory_sync_failed_records_nothing_before_it(
        directory, tmp_path):
    recording = Recording(directory)
    with recording.intercepting():
        queue = FileQueue(directory / "tasks.json", fsync=True, clock=FakeClock())
        queue.put_many(["a", "b"])
        recording.fail_next("fsync", directory=True)  # the new ledger's directory sync
        with pytest.raises(StorageError):
            queue.claim(lease=30.0)
        assert queue.claim(lease=30.0).item == "a"  # returned: recorded durably
        queue.close()

    def claimed_once_the_leases_are_over(queue):
        return [c.item for c in iter(lambda: queue.claim(lease=30.0), None)]

    found = recording.after_power_loss(tmp_path / "states", claimed_once_the_leases_are_over,
                                       fsync=True, clock=lambda: LATER)
    assert [(label, items) for label, items in found if items != ["a", "b"]] == []
