"""A queue's files belong together: damaged or foreign ones are refused by name and left as
they are; the lock file's flag and the directories are synced; claim ids never repeat; a
queue is named by its file's real path."""

import json
import os
import pickle

import pytest

from queue_core import ClaimError, CorruptQueueError, FileQueue
from queue_core.storage import journal
from queue_core.storage.journal_head import HEAD_HEADER_SIZE, SLOT_SIZE, Head, pack_head, pack_slot
from tests.support.fake_clock import FakeClock


@pytest.fixture
def clock():
    return FakeClock()


def snapshot(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def journal_with_a_consumed_item(queue_path):
    q = FileQueue(queue_path, format="journal")
    for item in ("a", "b", "c"):
        q.put(item)
    assert q.get() == "a"
    q.close()
    return queue_path.with_name("tasks.json.head")


def refused(queue_path, match, **options):
    """Opening (and getting from) the queue raises ``CorruptQueueError``; no file changes."""
    before = snapshot(queue_path.parent)
    with pytest.raises(CorruptQueueError, match=match) as caught:
        FileQueue(queue_path, format="journal", **options).get()
    assert snapshot(queue_path.parent) == before
    return caught.value


def test_a_head_with_bad_bytes_is_refused_not_overwritten(queue_path):
    head = journal_with_a_consumed_item(queue_path)
    head.write_bytes(b"\x07" * len(head.read_bytes()))
    error = refused(queue_path, "tasks.json.head")
    assert error.path == head


def test_a_head_whose_two_slots_are_torn_is_refused(queue_path):
    head = journal_with_a_consumed_item(queue_path)
    raw = bytearray(head.read_bytes())
    for slot in range(2):
        raw[HEAD_HEADER_SIZE + slot * SLOT_SIZE + 3] ^= 0xFF
    head.write_bytes(bytes(raw))
    refused(queue_path, "neither of its two slots is readable")


def test_a_head_beyond_the_end_of_a_truncated_file_is_refused(queue_path):
    journal_with_a_consumed_item(queue_path)
    data = queue_path.read_bytes()
    queue_path.write_bytes(data[:data.index(b"\n") + 1])  # the items are gone
    refused(queue_path, "beyond the end")


def test_a_head_inside_a_line_is_refused(queue_path):
    journal_with_a_consumed_item(queue_path)
    lines = queue_path.read_bytes().split(b"\n")
    lines[1] = b"9" + lines[1]  # the first line grows: the head now points inside the second
    queue_path.write_bytes(b"\n".join(lines))
    refused(queue_path, "not the start of a line")


def test_a_leftover_head_next_to_a_new_queue_file_is_refused(queue_path):
    journal_with_a_consumed_item(queue_path)
    other = queue_path.with_name("other.json")
    FileQueue(other, format="journal").put("new")
    os.replace(other, queue_path)  # a new tasks.json, the old head beside it
    error = refused(queue_path, "belongs to another queue")
    assert error.path == queue_path.with_name("tasks.json.head")


def test_a_head_left_without_its_queue_file_is_refused(queue_path):
    journal_with_a_consumed_item(queue_path)
    queue_path.unlink()
    refused(queue_path, "no tasks.json beside it")


@pytest.mark.parametrize("queue_format", ["journal", "json-array"])
def test_following_the_advice_gives_an_empty_working_queue(queue_path, clock, queue_format):
    q = FileQueue(queue_path, format=queue_format, clock=clock)
    for item in ("a", "b", "c"):
        q.put(item)
    q.claim()
    q.get()
    q.close()
    with open(queue_path, "r+b") as data:  # damage the data file
        data.write(b"\x00\x00")
    with pytest.raises(CorruptQueueError) as caught:
        FileQueue(queue_path, format=queue_format, clock=clock)
    names = {p.name for p in caught.value.move_away}
    expected = {"tasks.json", "tasks.json.claims"}
    if queue_format == "journal":
        expected.add("tasks.json.head")
    assert names == expected
    assert all(str(p) in str(caught.value) for p in caught.value.move_away)
    assert str(pickle.loads(pickle.dumps(caught.value))) == str(caught.value)
    moved = queue_path.parent / "moved"
    moved.mkdir()
    for path in caught.value.move_away:
        os.replace(path, moved / path.name)
    fresh = FileQueue(queue_path, format=queue_format, clock=clock)
    assert fresh.stats()[:4] == (0, 0, 0, 0)
    fresh.put("new")
    assert fresh.claim().item == "new"


def test_a_ledger_left_from_another_queue_is_refused(queue_path, clock):
    q = FileQueue(queue_path, format="journal", clock=clock)
    q.put("a")
    q.claim()
    q.close()
    claims = queue_path.with_name("tasks.json.claims")
    kept = claims.read_bytes()
    for name in ("tasks.json", "tasks.json.head", "tasks.json.claims"):
        queue_path.with_name(name).unlink()
    FileQueue(queue_path, format="journal", clock=clock).put("b")
    claims.write_bytes(kept)
    before = snapshot(queue_path.parent)
    with pytest.raises(CorruptQueueError, match="belongs to queue") as caught:
        FileQueue(queue_path, format="journal", clock=clock).get()
    assert caught.value.path == claims
    assert snapshot(queue_path.parent) == before


def test_a_version_2_journal_is_still_read(queue_path):
    queue_path.parent.mkdir(parents=True)
    header = b'{"format":"queue-journal","version":2,"generation":1}\n'
    lines = [b'1 1700000000.000000 "a"\n', b'2 1700000000.000000 "b"\n']
    queue_path.write_bytes(header + b"".join(lines))
    head = pack_head(Head(counter=0, generation=1, offset=len(header)))
    queue_path.with_name("tasks.json.head").write_bytes(head)  # slots at 0, no header
    q = FileQueue(queue_path, format="journal")
    assert q.get() == "a"
    q.put("c")
    assert FileQueue(queue_path, format="journal").get() == "b"
    assert json.loads(queue_path.read_text().split("\n")[0])["version"] == 2
    assert len(queue_path.with_name("tasks.json.head").read_bytes()) == 2 * SLOT_SIZE


# -- durability with fsync=True ------------------------------------------------------------


@pytest.fixture
def synced(monkeypatch):
    """What was fsynced, in order: a file's base name, "dir:NAME" for a directory, and
    "new:NAME" for the temporary file that becomes NAME."""
    names = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        name = os.path.basename(path)
        if os.path.isdir(path):
            name = f"dir:{name}"
        elif ".tmp-" in name:
            name = "new:" + name[1:name.index(".tmp-")]
        names.append(name)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return names


def test_the_claims_flag_is_synced_before_the_first_claim_is_recorded(queue_path, queue_format,
                                                                     synced):
    q = FileQueue(queue_path, format=queue_format, fsync=True)
    q.put("a")
    synced.clear()
    q.claim()
    expected = ["tasks.json.lock", "new:tasks.json.claims", "dir:shared-queue",
                "tasks.json.claims"]
    expected += (["tasks.json.head"] if queue_format == "journal" else
                 ["new:tasks.json", "dir:shared-queue", "tasks.json.claims"])
    assert synced == expected


def test_new_files_are_followed_by_a_sync_of_their_directory(queue_path, queue_format, synced):
    FileQueue(queue_path, format=queue_format, fsync=True)
    expected = ["new:tasks.json", "dir:shared-queue"]
    if queue_format == "journal":
        # then the group commit record starts from synced files (see groupcommit)
        expected += ["new:tasks.json.head", "dir:shared-queue", "tasks.json", "tasks.json.head"]
    expected += ["dir:shared-queue", f"dir:{queue_path.parent.parent.name}"]  # the lock file's
    assert synced == expected
    synced.clear()
    FileQueue(queue_path, format=queue_format, fsync=True)
    assert synced == ["dir:shared-queue"], "an existing queue: the lock file's entry only"


def test_a_lost_claims_flag_is_raised_again_from_the_ledger(queue_path, queue_format, clock):
    q = FileQueue(queue_path, format=queue_format, clock=clock)
    for item in ("a", "b"):
        q.put(item)
    q.claim(lease=10)
    q.close()
    os.truncate(queue_path.with_name("tasks.json.lock"), 0)  # the flag a power loss lost
    reopened = FileQueue(queue_path, format=queue_format, clock=clock)
    assert reopened.get() == "b"
    clock.advance(10)
    assert reopened.get() == "a", "the claimed item comes back when its lease ends"


# -- claim ids -------------------------------------------------------------------------------


def test_a_claim_from_before_requeue_dead_is_refused(queue_path, queue_format, clock):
    q = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=1)
    q.put("a")
    stale = q.claim(lease=1)
    clock.advance(2)
    assert q.requeue_dead() == 1
    fresh = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=1).claim()
    assert fresh.item == "a"
    assert fresh.id != stale.id
    with pytest.raises(ClaimError):
        q.nack(stale)
    with pytest.raises(ClaimError):
        q.ack(stale)
    q.ack(fresh)


def test_claim_ids_never_repeat_across_requeues_compactions_and_reopening(
        queue_path, queue_format, clock, monkeypatch):
    import queue_core.ledger as ledger_module
    monkeypatch.setattr(ledger_module, "COMPACT_MIN_BYTES", 300)
    seen = set()
    q = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=2)
    q.put("a")
    for _ in range(6):
        for _ in range(2):
            claim = q.claim(lease=1)
            assert claim.id not in seen
            seen.add(claim.id)
            clock.advance(2)
        q.dead()
        q.requeue_dead()
        q = FileQueue(queue_path, format=queue_format, clock=clock, max_attempts=2)


# -- one queue, whatever the path -----------------------------------------------------------


def test_a_symlink_to_the_queue_file_reaches_the_same_queue(queue_path, queue_format):
    q = FileQueue(queue_path, format=queue_format)
    link = queue_path.with_name("link.json")
    link.symlink_to(queue_path.name)
    via_link = FileQueue(link, format=queue_format)
    for item in ("a", "b"):
        q.put(item)
    assert via_link.get() == "a"
    assert q.get() == "b"
    assert via_link.get() is None
    assert link.is_symlink()
    assert not queue_path.with_name("link.json.lock").exists()


def test_a_symlinked_directory_and_a_relative_path_reach_the_same_queue(
        queue_path, queue_format, tmp_path, monkeypatch):
    q = FileQueue(queue_path, format=queue_format)
    (tmp_path / "alias").symlink_to(queue_path.parent)
    monkeypatch.chdir(tmp_path)
    relative = FileQueue("alias/tasks.json", format=queue_format)
    q.put("a")
    monkeypatch.chdir(queue_path.parent)  # "alias/tasks.json" means nothing here
    assert relative.size() == 1
    assert relative.get() == "a"
    relative.put("b")
    assert q.get() == "b"


# -- the head's problems, word for word ------------------------------------------------------


def write_slot(head_path, counter, generation, offset):
    """Make (counter, generation, offset) the newest slot of the head file."""
    raw = bytearray(head_path.read_bytes())
    at = HEAD_HEADER_SIZE + (counter % 2) * SLOT_SIZE
    raw[at:at + SLOT_SIZE] = pack_slot(Head(counter, generation, offset))
    head_path.write_bytes(bytes(raw))


def test_a_head_beyond_the_end_of_the_file_is_refused_word_for_word(queue_path):
    head = journal_with_a_consumed_item(queue_path)
    size = queue_path.stat().st_size
    write_slot(head, 9, 1, size + 1)
    error = refused(queue_path, "beyond the end")
    assert (error.path, error.problem) == (
        head, f"it points at byte {size + 1}, beyond the end of tasks.json ({size} bytes)")


def test_a_head_at_the_very_end_of_the_file_is_an_empty_queue(queue_path):
    head = journal_with_a_consumed_item(queue_path)
    write_slot(head, 9, 1, queue_path.stat().st_size)
    assert FileQueue(queue_path, format="journal").get() is None


def test_a_head_inside_the_header_is_refused_word_for_word(queue_path):
    head = journal_with_a_consumed_item(queue_path)
    size = queue_path.stat().st_size
    write_slot(head, 9, 1, 5)
    error = refused(queue_path, "inside the header")
    assert (error.path, error.problem) == (
        head, f"it points at byte 5, inside the header of tasks.json ({size} bytes)")


def test_a_head_of_another_generation_is_refused_word_for_word(queue_path):
    head = journal_with_a_consumed_item(queue_path)
    write_slot(head, 9, 4, 100)
    error = refused(queue_path, "generation")
    assert (error.path, error.problem) == (
        head, "it names generation 4, but tasks.json is generation 1")


def test_a_head_removed_while_the_queue_is_open_is_refused_word_for_word(queue_path):
    q = FileQueue(queue_path, format="journal")
    q.put("a")
    q.close()  # the next call opens the head again
    head = queue_path.with_name("tasks.json.head")
    head.unlink()
    with pytest.raises(CorruptQueueError) as caught:
        q.get()
    assert (caught.value.path, caught.value.problem) == (
        head, "it is missing (removed while the queue was open): which items were consumed "
              "is unknown")


@pytest.mark.parametrize("state", ["items", "compacted"])
def test_a_missing_head_beside_a_used_journal_is_refused_word_for_word(queue_path, state,
                                                                       monkeypatch):
    q = FileQueue(queue_path, format="journal")
    if state == "items":
        q.put("a")
    else:
        monkeypatch.setattr(journal, "COMPACT_EMPTY_BYTES", 10)
        q.put("a" * 50)
        q.get()
        assert b'"generation":2' in queue_path.read_bytes(), "compacted, empty"
    q.close()
    head = queue_path.with_name("tasks.json.head")
    head.unlink()
    error = refused(queue_path, "it is missing")
    assert (error.path, error.problem) == (
        head, "it is missing, but tasks.json holds items: which of them were consumed is "
              "unknown")


def test_a_missing_head_is_damage_for_inspect_word_for_word(queue_path):
    from queue_core.inspect import inspect_queue

    FileQueue(queue_path, format="journal").put("a")
    head = queue_path.with_name("tasks.json.head")
    head.unlink()
    [problem] = inspect_queue(queue_path).damage
    assert problem.startswith(f"queue file {head} is corrupt: it is missing; it was left "
                              "untouched")


def test_a_format_that_says_nothing_of_itself_is_described_by_its_class_name(queue_path):
    from queue_core.storage.base import Storage
    from queue_core.storage.json_array import JsonArrayStorage

    assert Storage.describe(JsonArrayStorage(queue_path)) == {"format": "JsonArrayStorage"}
