"""The journal format's own rules: compaction, crash repair, torn heads, wrong formats."""

import json
import os

import pytest

from queue_core import CorruptQueueError, FileQueue
from queue_core.storage import journal, journal_lines
from queue_core.storage.journal_head import HEAD_HEADER_SIZE, SLOT_SIZE


@pytest.fixture
def small_compactions(monkeypatch):
    monkeypatch.setattr(journal, "COMPACT_MIN_BYTES", 200)
    monkeypatch.setattr(journal, "COMPACT_EMPTY_BYTES", 100)


def generation(path):
    return json.loads(path.read_text().split("\n")[0])["generation"]


def journal_with(queue_path, lines):
    """A new (version-3) journal with ``lines`` appended as they are; its header's length."""
    FileQueue(queue_path, format="journal").close()
    header = len(queue_path.read_bytes())
    with open(queue_path, "ab") as data:
        data.write(lines)
    return header


def every_file(queue_path):
    return f"{queue_path}, {queue_path.with_name('tasks.json.head')}"


def test_puts_append_lines_and_gets_move_the_head(queue_path):
    q = FileQueue(queue_path, format="journal", clock=lambda: 1700000000.5)
    q.put({"a": 1})
    q.put("b")
    lines = queue_path.read_text().splitlines()
    assert lines[1:] == ['1 1700000000.500000 {"a":1}', '2 1700000000.500000 "b"']
    assert q.get() == {"a": 1}
    assert queue_path.read_text().splitlines()[1:] == lines[1:], "a get rewrites nothing"
    assert q.size() == 1


def test_compaction_keeps_every_item_in_order(queue_path, small_compactions):
    q = FileQueue(queue_path, format="journal")
    out = []
    for n in range(300):
        q.put(f"item-{n}")
        if n % 3:
            out.append(q.get())
    assert generation(queue_path) > 1
    out.extend(iter(q.get, None))
    assert out == [f"item-{n}" for n in range(300)]
    assert q.size() == 0


def test_an_emptied_queue_is_compacted_to_its_header(queue_path, monkeypatch):
    monkeypatch.setattr(journal, "COMPACT_EMPTY_BYTES", 10)
    q = FileQueue(queue_path, format="journal")
    for n in range(20):
        q.put(f"item-{n}")
    assert [q.get() for _ in range(20)] == [f"item-{n}" for n in range(20)]
    assert len(queue_path.read_text().splitlines()) == 1


def test_a_crash_between_the_compacted_file_and_the_head_loses_and_repeats_nothing(
    queue_path, small_compactions, monkeypatch
):
    q = FileQueue(queue_path, format="journal")
    for n in range(40):
        q.put(f"item-{n}")
    real_write_head = journal.JournalStorage._write_head
    calls = []

    def crash_on_the_head_after_compaction(self, head):
        calls.append(head)
        if len(calls) > 1:
            raise SystemExit("killed")  # the compacted file is in place; its head is not
        real_write_head(self, head)

    monkeypatch.setattr(journal.JournalStorage, "_write_head", crash_on_the_head_after_compaction)
    taken = []
    with pytest.raises(SystemExit):
        while True:
            calls.clear()
            taken.append(q.get())
    monkeypatch.setattr(journal.JournalStorage, "_write_head", real_write_head)
    items = [f"item-{n}" for n in range(40)]
    assert taken == items[:len(taken)]
    # The get that crashed had moved the head before compacting: its item is gone, as a
    # get killed after taking its item may lose it. Nothing else is lost or repeated.
    reopened = FileQueue(queue_path, format="journal")
    assert reopened.size() == len(items) - len(taken) - 1
    assert list(iter(reopened.get, None)) == items[len(taken) + 1:]


def test_a_half_written_line_is_ignored_then_cut_off_by_the_next_put(queue_path):
    q = FileQueue(queue_path, format="journal")
    q.put("whole")
    with open(queue_path, "ab") as data:
        data.write(b'2 {"half": ')
    assert q.size() == 1
    q.put("next")
    assert q.size() == 2
    assert [q.get(), q.get(), q.get()] == ["whole", "next", None]


def test_a_torn_head_slot_falls_back_to_the_previous_head(queue_path):
    q = FileQueue(queue_path, format="journal")
    for item in ("a", "b", "c"):
        q.put(item)
    assert q.get() == "a"
    head_path = queue_path.with_name("tasks.json.head")
    raw = bytearray(head_path.read_bytes())
    slots = [HEAD_HEADER_SIZE + i * SLOT_SIZE for i in range(2)]
    newest = max(slots, key=lambda at: int.from_bytes(raw[at:at + 8], "little"))
    raw[newest + 3] ^= 0xFF  # a write cut short by a crash
    head_path.write_bytes(bytes(raw))
    assert FileQueue(queue_path, format="journal").get() == "a", "the get that tore is undone"


def test_a_json_array_file_is_not_read_as_a_journal(queue_path):
    FileQueue(queue_path, format="json-array").put("x")
    before = queue_path.read_bytes()
    with pytest.raises(CorruptQueueError, match="format='json-array'"):
        FileQueue(queue_path, format="journal")
    assert queue_path.read_bytes() == before


def test_a_corrupt_item_line_raises_and_changes_nothing(queue_path):
    q = FileQueue(queue_path, format="journal")
    q.put("fine")
    with open(queue_path, "ab") as data:
        data.write(b"not-a-number xyz\n")
    assert q.get() == "fine"
    before = queue_path.read_bytes()
    with pytest.raises(CorruptQueueError, match="is not '<number> <put time> <JSON>'"):
        q.get()
    assert queue_path.read_bytes() == before


def test_fsync_flushes_the_journal_and_the_head(queue_path, monkeypatch):
    q = FileQueue(queue_path, format="journal", fsync=True)
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.path.basename(os.path.realpath(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    q.put("durable")
    assert synced == ["tasks.json"]
    q.get()
    assert synced == ["tasks.json", "tasks.json.head"]


def test_a_journal_of_another_version_is_refused_by_name(queue_path):
    queue_path.parent.mkdir(parents=True)
    queue_path.write_text('{"format":"queue-journal","version":1,"generation":1}\n1 "a"\n')
    before = queue_path.read_bytes()
    with pytest.raises(CorruptQueueError, match="version 1; this queue reads versions 2, 3"):
        FileQueue(queue_path, format="journal")
    assert queue_path.read_bytes() == before


def test_another_queue_object_reads_the_newest_head_slot(queue_path):
    q = FileQueue(queue_path, format="journal")
    for item in "abcd":
        q.put(item)
    assert [q.get(), q.get()] == ["a", "b"]  # the newest head is in the first slot
    assert FileQueue(queue_path, format="journal").get() == "c"
    assert FileQueue(queue_path, format="journal").get() == "d"  # ... in the second slot
    assert q.get() is None


def test_a_head_slot_without_its_padding_is_still_read(queue_path):
    q = FileQueue(queue_path, format="journal")
    for item in "abc":
        q.put(item)
    q.get()
    head_path = queue_path.with_name("tasks.json.head")
    raw = head_path.read_bytes()
    assert len(raw) == HEAD_HEADER_SIZE + 2 * SLOT_SIZE
    head_path.write_bytes(raw[:HEAD_HEADER_SIZE + SLOT_SIZE + 28])  # the zero padding is lost
    assert FileQueue(queue_path, format="journal").get() == "b"


def test_a_head_file_without_an_intact_slot_is_refused_and_left_as_it_is(queue_path):
    q = FileQueue(queue_path, format="journal")
    for item in "ab":
        q.put(item)
    q.close()
    head_path = queue_path.with_name("tasks.json.head")
    raw = head_path.read_bytes()
    head_path.write_bytes(raw[:HEAD_HEADER_SIZE] + b"\0" * 2 * SLOT_SIZE)  # its header intact
    before = (queue_path.read_bytes(), head_path.read_bytes())
    with pytest.raises(CorruptQueueError) as caught:
        FileQueue(queue_path, format="journal")
    assert str(caught.value) == (
        f"queue file {head_path} is corrupt: neither of its two slots is readable; it was "
        "left untouched: repair it, or stop every process using the queue, then move "
        f"{every_file(queue_path)} away together to start an empty queue")
    assert (queue_path.read_bytes(), head_path.read_bytes()) == before


def test_a_half_written_line_at_the_head_is_not_an_item(queue_path):
    q = FileQueue(queue_path, format="journal")
    q.put("whole")
    with open(queue_path, "ab") as data:
        data.write(b'2 1.0 "' + b"x" * 2000)
    assert q.get() == "whole"
    assert q.get() is None
    assert q.claim() is None
    q.put("next")  # cuts the half-written line off and takes its number
    assert queue_path.read_bytes().split(b"\n")[-2].startswith(b'2 ')
    assert q.get() == "next"


def test_a_corrupt_last_line_is_reported_by_the_next_put(queue_path):
    q = FileQueue(queue_path, format="journal")
    q.put("a")
    size = queue_path.stat().st_size
    with open(queue_path, "ab") as data:
        data.write(b"oops\n")
    reopened = FileQueue(queue_path, format="journal")
    with pytest.raises(CorruptQueueError, match=f"the line at byte {size} is not"):
        reopened.put("b")


def test_a_corrupt_head_line_is_reported_by_a_claim(queue_path):
    header = journal_with(queue_path, b"1 x 1\n")
    with pytest.raises(CorruptQueueError, match=f"the line at byte {header} is not"):
        FileQueue(queue_path, format="journal").claim()


def _line(item):
    return f"1 1000.000000 {item}\n".encode()


@pytest.mark.parametrize(("beyond_half", "compacted"), [
    (10, True),  # the first line, exactly the minimum, is 10 bytes more than the rest
    (0, False),  # exactly half of the file is not more than half
])
def test_a_compaction_needs_the_minimum_and_more_than_half_consumed(
        queue_path, monkeypatch, beyond_half, compacted):
    q = FileQueue(queue_path, format="journal", clock=lambda: 1000.0)
    header = len(queue_path.read_bytes())
    # consumed = the first line; the rest of the file = the header and the line of 1
    min_bytes = header + len(_line("1")) + beyond_half
    first = "a" * (min_bytes - len(_line('""')))
    monkeypatch.setattr(journal, "COMPACT_MIN_BYTES", min_bytes)
    q.put(first)
    q.put(1)
    assert len(_line(f'"{first}"')) == min_bytes
    assert queue_path.stat().st_size == 2 * min_bytes - beyond_half
    assert q.get() == first
    assert (generation(queue_path) == 2) is compacted
    assert [q.get(), q.get()] == [1, None]


@pytest.mark.parametrize(("empty_bytes", "compacted"), [(32, True), (33, False)])
def test_an_emptied_queue_is_compacted_from_exactly_its_minimum(queue_path, monkeypatch,
                                                                empty_bytes, compacted):
    monkeypatch.setattr(journal, "COMPACT_EMPTY_BYTES", empty_bytes)
    q = FileQueue(queue_path, format="journal", clock=lambda: 1000.0)
    q.put(1)
    q.put(2)
    assert [q.get(), q.get()] == [1, 2]  # 2 lines of 16 bytes consumed
    assert (generation(queue_path) == 2) is compacted


def test_fsync_covers_the_new_file_and_its_compactions(queue_path, small_compactions,
                                                      monkeypatch):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.path.basename(os.path.realpath(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    q = FileQueue(queue_path, format="journal", fsync=True)
    directory = queue_path.parent.name
    assert synced[0].startswith(".tasks.json.tmp-") and directory in synced
    for n in range(30):
        q.put(n)
    while generation(queue_path) == 1:
        synced.clear()
        assert q.get() is not None
    # The get that compacted: its head, the new generation, its rename, the head past it.
    assert len(synced) == 4 and synced[1].startswith(".tasks.json.tmp-"), synced
    assert [synced[0], *synced[2:]] == ["tasks.json.head", directory, "tasks.json.head"]


EVERY_CALL = range(1, 100)


@pytest.mark.parametrize(("items", "raced_calls", "counted"), [
    (3, {1}, 2),  # one race, then a count that holds
    (5, {1, 21}, 4),  # the second count holds: the 21st is never made
    (30, EVERY_CALL, 10),  # after 20 raced tries the 21st count is returned as it is
    (20, EVERY_CALL, 0),
])
def test_a_count_raced_by_gets_is_taken_again_then_given_up(queue_path, monkeypatch, items,
                                                             raced_calls, counted):
    q = FileQueue(queue_path, format="journal")
    other = FileQueue(queue_path, format="journal")
    for n in range(items):
        q.put(n)
    real_count_once = journal.JournalStorage._count_once
    calls = []

    def raced(self, head, *, strict):
        result = real_count_once(self, head, strict=strict)
        calls.append(head)
        if len(calls) in raced_calls:  # a get lands between the count and the check of the head
            other.get()
        return result

    monkeypatch.setattr(journal.JournalStorage, "_count_once", raced)
    assert q.size() == counted
    if raced_calls != EVERY_CALL:
        monkeypatch.undo()
        assert q.size() == counted, "the count held is the queue's size"


def test_a_corrupt_head_line_is_reported_by_size(queue_path):
    header = journal_with(queue_path, b"x 1 1\n")
    with pytest.raises(CorruptQueueError, match=f"the line at byte {header} is not"):
        FileQueue(queue_path, format="journal").size()


def test_a_corrupt_first_line_behind_a_good_last_line_is_reported_by_size(queue_path):
    header = journal_with(queue_path, b"x 1 1\n2 1000.0 2\n")
    with pytest.raises(CorruptQueueError, match=f"the line at byte {header} is not"):
        FileQueue(queue_path, format="journal").size()


def test_a_head_file_zeroed_while_open_is_refused_and_left_as_it_is(queue_path):
    q = FileQueue(queue_path, format="journal")
    for item in "ab":
        q.put(item)
    head_path = queue_path.with_name("tasks.json.head")
    zeroed = b"\0" * (HEAD_HEADER_SIZE + 2 * SLOT_SIZE)
    head_path.write_bytes(zeroed)
    queue_id = q._storage.queue_id
    message = (f"queue file {head_path} is corrupt: its header '' does not name queue "
               f"{queue_id} of tasks.json: it belongs to another queue; it was left untouched: "
               "repair it, or stop every process using the queue, then move "
               f"{every_file(queue_path)} away together to start an empty queue")
    for call in (q.size, q.claim, q.get):
        with pytest.raises(CorruptQueueError) as caught:
            call()
        assert str(caught.value) == message
    assert head_path.read_bytes() == zeroed


def test_an_empty_line_in_a_journal_is_corruption_not_the_end(queue_path):
    header = journal_with(queue_path, b"\n2 1000.0 2\n")
    q = FileQueue(queue_path, format="journal")
    with pytest.raises(CorruptQueueError, match=f"the line at byte {header} is not"):
        q.get()


@pytest.mark.parametrize("operation", ["get", "get_many", "claim_many"])
def test_a_corrupt_head_line_taken_in_a_batch_is_named_by_its_byte(queue_path, operation):
    header = journal_with(queue_path, b"1 x 1\n")
    q = FileQueue(queue_path, format="journal")
    with pytest.raises(CorruptQueueError) as caught:
        getattr(q, operation)(*([] if operation == "get" else [2]))
    assert caught.value.problem == (f"the line at byte {header} is not '<number> <put time> "
                                    "<JSON>' (could not convert string to float: b'x')")


def test_a_batch_that_empties_the_queue_compacts_it(queue_path, monkeypatch):
    monkeypatch.setattr(journal, "COMPACT_EMPTY_BYTES", 10)
    q = FileQueue(queue_path, format="journal")
    q.put_many([f"item-{n}" for n in range(5)])
    assert q.get_many(10) == [f"item-{n}" for n in range(5)]
    assert generation(queue_path) == 2
    assert len(queue_path.read_text().splitlines()) == 1
    q.put("next")
    assert FileQueue(queue_path, format="journal").get() == "next"


def test_a_batch_s_lines_are_numbered_on_from_the_last_put(queue_path):
    q = FileQueue(queue_path, format="journal")
    q.put("a")
    q.put_many(["b", "c", "d"])
    q.put("e")
    numbers = [int(line.split(" ")[0]) for line in queue_path.read_text().splitlines()[1:]]
    assert numbers == [1, 2, 3, 4, 5]


def test_a_head_cut_inside_its_second_slot_still_reads_the_first(queue_path):
    q = FileQueue(queue_path, format="journal")
    q.put("a")
    q.close()
    head = queue_path.with_name("tasks.json.head")
    os.truncate(head, HEAD_HEADER_SIZE + SLOT_SIZE + 3)
    assert FileQueue(queue_path, format="journal").get() == "a"


def test_a_version_2_head_without_a_readable_slot_is_refused(queue_path):
    queue_path.parent.mkdir(parents=True)
    queue_path.write_bytes(b'{"format":"queue-journal","version":2,"generation":1}\n'
                           b"1 1000.000000 \"a\"\n")
    head = queue_path.with_name("tasks.json.head")
    head.write_bytes(b"\x07" * (2 * SLOT_SIZE))
    with pytest.raises(CorruptQueueError) as caught:
        FileQueue(queue_path, format="journal").get()
    assert (caught.value.path, caught.value.problem) == (
        head, "neither of its two slots is readable")


@pytest.mark.parametrize("found, shown", [(b"other", "other"), (b"\xffodd", "\ufffdodd"),
                                          (b"MAX", "MAX")])
def test_a_head_of_another_queue_is_named_by_what_its_header_says(queue_path, found, shown):
    q = FileQueue(queue_path, format="journal")
    q.put("a")
    q.close()
    queue_id = q._storage.queue_id
    head = queue_path.with_name("tasks.json.head")
    raw = head.read_bytes()
    head.write_bytes(found + bytes(HEAD_HEADER_SIZE - len(found)) + raw[HEAD_HEADER_SIZE:])
    with pytest.raises(CorruptQueueError) as caught:
        FileQueue(queue_path, format="journal").get()
    assert caught.value.problem == (f"its header {shown!r} does not name queue {queue_id} of "
                                    "tasks.json: it belongs to another queue")


def test_a_torn_line_whose_cut_fails_names_the_journal(queue_path, monkeypatch):
    import errno

    from queue_core.errors import StorageError

    q = FileQueue(queue_path, format="journal")
    q.put("a")
    with open(queue_path, "ab") as data:
        data.write(b"2 1000.0")  # a crashed writer's half line
    q.close()

    def failing_truncate(fd, size):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "ftruncate", failing_truncate)
    with pytest.raises(StorageError) as caught:
        q.put("b")
    assert (caught.value.path, caught.value.operation) == (queue_path, "truncate")


def test_a_head_inside_a_line_is_reported_by_size_after_the_retries(queue_path):
    q = FileQueue(queue_path, format="journal")
    for item in ("a", "b", "c"):
        q.put(item)
    q.get()
    lines = queue_path.read_bytes().split(b"\n")
    lines[1] = b"9" + lines[1]  # the head now points inside the second line, for good
    queue_path.write_bytes(b"\n".join(lines))
    with pytest.raises(CorruptQueueError) as caught:
        q.size()
    assert "which is not the start of a line" in caught.value.problem


def test_a_count_that_read_a_head_from_mid_change_tries_again(queue_path, monkeypatch):
    """A head read while another process moved it may point nowhere sensible for the data
    read: that try counts nothing, the next one counts."""
    q = FileQueue(queue_path, format="journal")
    for item in ("a", "b", "c"):
        q.put(item)
    real_read_head = journal.JournalStorage._read_head
    reads = []

    def mid_change(self):
        head = real_read_head(self)
        reads.append(head)
        if len(reads) == 1:
            return head._replace(offset=head.offset + 3)  # inside the first line
        return head

    monkeypatch.setattr(journal.JournalStorage, "_read_head", mid_change)
    assert q.size() == 3
    assert len(reads) >= 3


def test_a_version_2_journal_whose_head_is_still_empty_is_counted(queue_path):
    queue_path.parent.mkdir(parents=True)
    queue_path.write_bytes(b'{"format":"queue-journal","version":2,"generation":1}\n'
                           b'1 1000.000000 "a"\n2 1000.000000 "b"\n')
    queue_path.with_name("tasks.json.head").write_bytes(b"")
    q = FileQueue(queue_path, format="journal")
    assert q.size() == 2
    assert q.get() == "a"


@pytest.mark.parametrize("extra", [-1, 0, 1, 2])
def test_a_last_line_just_longer_than_a_read_chunk_is_read_whole(queue_path, extra):
    q = FileQueue(queue_path, format="journal", clock=lambda: 1000.0)
    prefix = len('1 1000.000000 ""')
    item = "x" * (journal_lines._TAIL_CHUNK + extra - prefix)
    q.put(item)
    line = queue_path.read_bytes().split(b"\n")[1]
    assert len(line) == journal_lines._TAIL_CHUNK + extra
    assert FileQueue(queue_path, format="journal").get() == item


def test_a_version_2_journal_is_compacted_as_version_2(queue_path, monkeypatch):
    monkeypatch.setattr(journal, "COMPACT_EMPTY_BYTES", 10)
    queue_path.parent.mkdir(parents=True)
    queue_path.write_bytes(b'{"format":"queue-journal","version":2,"generation":1}\n'
                           b'1 1000.000000 "a"\n2 1000.000000 "b"\n')
    queue_path.with_name("tasks.json.head").write_bytes(b"")  # created, never written yet
    q = FileQueue(queue_path, format="journal")
    assert [q.get(), q.get()] == ["a", "b"]
    assert queue_path.read_bytes() == b'{"format":"queue-journal","version":2,"generation":2}\n'
    q.put("c")
    assert FileQueue(queue_path, format="journal").get() == "c"


def test_a_version_3_head_file_truncated_to_nothing_is_refused_not_read_from_the_start(
        queue_path):
    q = FileQueue(queue_path, format="journal")
    q.put("a")
    q.put("b")
    assert q.get() == "a"
    q.close()
    head = queue_path.with_name("tasks.json.head")
    os.truncate(head, 0)  # e.g. a power loss before the head file's data reached the disk
    with pytest.raises(CorruptQueueError) as caught:
        FileQueue(queue_path, format="journal").get()  # it was "a", consumed already
    assert caught.value.path == head
