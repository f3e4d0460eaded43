"""The files on disk, byte for byte: other versions and tools read them, so they are a contract.

The journal and its head slots, the claims ledger, the JSON array, the lock file's flag, and
the permissions every file is created with.
"""

import hashlib
import os
import re
import struct
import zlib

import pytest

from queue_core import FileQueue, ledger
from queue_core.atomic import file_mode, write_atomic
from queue_core.ledger import Ledger
from queue_core.storage import journal

NOW = 1000.0
JOURNAL_HEADER = b'{"format":"queue-journal","version":3,"generation":%d,"queue":"%s"}\n'
JOURNAL_V2_HEADER = b'{"format":"queue-journal","version":2,"generation":%d}\n'
LEDGER_HEADER = b'{"format":"queue-claims","version":1}\n'  # a queue without an id: json-array
JOURNAL_LEDGER_HEADER = b'{"format":"queue-claims","version":1,"queue":"%s"}\n'


def queue_id(queue_path):
    """The random id in a version-3 journal's header: 16 lowercase hex digits."""
    first_line = queue_path.read_bytes().split(b"\n")[0] + b"\n"
    found = re.fullmatch(rb'\{"format":"queue-journal","version":3,"generation":\d+,'
                         rb'"queue":"([0-9a-f]{16})"\}\n', first_line)
    assert found, first_line
    return found.group(1)


def slots(head_path, queue=None):
    """The head file's two slots as (counter, generation, offset), None for an invalid one.

    ``queue``: the id that the 32-byte header before the slots names (version 3); None: a
    version-2 head file, slots from its first byte.
    """
    raw = head_path.read_bytes()
    base = 0
    if queue is not None:
        assert raw[:32] == (b"queue-head " + queue + b"\n").ljust(32, b"\0")
        base = 32
    assert len(raw) - base in (32, 64)
    raw = raw.ljust(base + 64, b"\0")
    out = []
    for at in (base, base + 32):
        counter, generation, offset, crc = struct.unpack_from("<QQQI", raw, at)
        valid = crc == zlib.crc32(struct.pack("<QQQI", counter, generation, offset, 0))
        assert raw[at + 28:at + 32] == b"\0\0\0\0"
        out.append((counter, generation, offset) if valid and generation else None)
    return out


@pytest.fixture
def umask():
    """Lets a test choose the umask; restores the old one."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def test_the_journal_lines_and_head_slots(queue_path):
    q = FileQueue(queue_path, format="journal", clock=lambda: NOW)
    qid = queue_id(queue_path)
    header = JOURNAL_HEADER % (1, qid)
    head_path = q._storage.head_path
    assert len(head_path.read_bytes()) == 96, "a 32-byte header and both slots, made whole"
    assert slots(head_path, qid) == [(0, 1, len(header)), None]
    q.put("a")
    q.put({"b": 1})
    first = b'1 1000.000000 "a"\n'
    assert queue_path.read_bytes() == header + first + b'2 1000.000000 {"b":1}\n'
    assert q.get() == "a"
    assert slots(head_path, qid) == [(0, 1, len(header)), (1, 1, len(header) + len(first))]
    assert q.get() == {"b": 1}
    assert slots(head_path, qid)[0] == (2, 1, len(queue_path.read_bytes()))


def test_a_compaction_writes_the_next_generation_and_points_the_head_past_its_header(
        queue_path, monkeypatch):
    monkeypatch.setattr(journal, "COMPACT_MIN_BYTES", 60)
    q = FileQueue(queue_path, format="journal", clock=lambda: NOW)
    qid = queue_id(queue_path)
    header = len(JOURNAL_HEADER % (1, qid))
    assert header == 81
    for n in range(8):
        q.put(n)
    lines = [f"{n + 1} 1000.000000 {n}\n".encode() for n in range(8)]
    assert {len(line) for line in lines} == {16} and header + 8 * 16 == 209
    assert [q.get() for _ in range(6)] == [0, 1, 2, 3, 4, 5]
    assert queue_path.read_bytes().startswith(JOURNAL_HEADER % (1, qid)), (
        "96 of 209 bytes: not half")
    assert q.get() == 6  # 112 bytes consumed: more than 60, and more than half
    assert queue_path.read_bytes() == JOURNAL_HEADER % (2, qid) + lines[7]
    assert sorted(slots(q._storage.head_path, qid)) == [(7, 1, header + 7 * 16),
                                                        (8, 2, len(JOURNAL_HEADER % (2, qid)))]
    assert [q.get(), q.get()] == [7, None]
    q.put(8)
    assert queue_path.read_bytes().endswith(b"\n9 1000.000000 8\n"), "numbers go on"


def test_items_longer_than_the_read_chunk_are_read_and_counted_whole(queue_path):
    q = FileQueue(queue_path, format="journal")
    items = ["x" * 3000, "y" * 10, "z" * 700]
    for item in items:
        q.put(item)
    assert q.size() == 3
    reopened = FileQueue(queue_path, format="journal")
    reopened.put("w" * 2100)  # the put reads the long last line back for its number
    assert queue_path.read_bytes().split(b"\n")[-2].startswith(b"4 ")
    assert reopened.size() == 4
    assert [reopened.get() for _ in range(5)] == [*items, "w" * 2100, None]
    assert reopened.size() == 0


def test_the_ledger_records_each_change_as_one_json_line(queue_path):
    q = FileQueue(queue_path, format="journal", clock=lambda: NOW)
    q.put("a")
    claim = q.claim(lease=10)
    assert (claim.order, claim.attempt, claim.claimed_at, claim.until) == (1, 1, NOW, NOW + 10)
    q.nack(claim, delay=2)
    path = Ledger(queue_path).path
    qid = queue_id(queue_path)
    from_ = len(JOURNAL_HEADER % (1, qid))
    assert path.read_bytes() == JOURNAL_LEDGER_HEADER % qid + (
        b'{"op":"take","order":1,"item":"a","until":1010.0,"put_at":1000.0,"from":[1,%d]}\n'
        b'{"op":"nack","order":1,"until":1002.0}\n' % from_)


def test_a_json_array_claim_records_the_file_it_took_from_then_settles(queue_path):
    q = FileQueue(queue_path, format="json-array", clock=lambda: NOW)
    q.put("a")
    q.put({"b": 1})
    assert queue_path.read_bytes() == b'["a",{"b":1}]'
    digest = hashlib.sha256(queue_path.read_bytes()).hexdigest().encode()
    q.claim(lease=10)
    assert queue_path.read_bytes() == b'[{"b":1}]'
    assert Ledger(queue_path).path.read_bytes() == LEDGER_HEADER + (
        b'{"op":"take","order":1,"item":"a","until":1010.0,"put_at":null,"from":"%s"}\n'
        b'{"op":"settled"}\n' % digest)


def test_the_lock_file_is_the_claims_flag_then_a_token_the_flag_raised_by_the_first_claim(
        queue_path, queue_format, monkeypatch):
    q = FileQueue(queue_path, format=queue_format)
    lock = queue_path.with_name(queue_path.name + ".lock")
    loads = []
    real_load = Ledger.load
    monkeypatch.setattr(Ledger, "load", lambda self: loads.append(1) or real_load(self))
    q.put("a")
    q.put("b")
    assert (q.size(), q.get(), q.stats().waiting) == (2, "a", 1)
    assert loads == [], "a queue that never had claims does not read the ledger"
    flag, token = lock.read_bytes()[:1], lock.read_bytes()[1:]
    assert flag == b"0" and len(token) == 16 and int(token, 16) >= 0
    q.claim()
    assert lock.read_bytes() == b"1" + token
    assert loads
    loads.clear()
    FileQueue(queue_path, format=queue_format).size()
    assert loads, "every process sees the flag"


@pytest.mark.parametrize("creator_umask, created_mode", [(0o022, 0o644), (0o002, 0o664)])
def test_every_file_gets_the_creators_umask_and_keeps_its_mode_when_rewritten(
        queue_path, queue_format, umask, creator_umask, created_mode):
    umask(creator_umask)
    q = FileQueue(queue_path, format=queue_format, fsync=True)
    q.put("a")
    q.claim()
    umask(0o077)
    q.put("b")  # a whole-file rewrite by a stricter process keeps the file's mode
    names = {p.name for p in queue_path.parent.iterdir()}
    expected = {"tasks.json", "tasks.json.lock", "tasks.json.claims"} | (
        {"tasks.json.head", "tasks.json.sync"} if queue_format == "journal" else set())
    assert names == expected
    for name in names:
        assert oct((queue_path.parent / name).stat().st_mode & 0o777) == oct(created_mode), name


def test_a_compacted_ledger_is_a_snapshot_that_reopens_to_the_same_state(queue_path,
                                                                       monkeypatch):
    monkeypatch.setattr(ledger, "COMPACT_MIN_BYTES", 0)
    monkeypatch.setattr(ledger, "COMPACT_RATIO", 0)  # every change compacts
    clock = [NOW]
    q = FileQueue(queue_path, clock=lambda: clock[0], max_attempts=1)
    for item in "abc":
        q.put(item)
    q.claim(lease=1)  # a: dies
    q.nack(q.claim(lease=1), delay=5)  # b: delayed
    clock[0] += 1
    c = q.claim(lease=3)  # a is moved to the dead letters; c in flight
    # A take is never compacted (a failed removal from the storage must be able to cut it
    # back): the next change, an extend to the same end, writes the snapshot.
    q.extend(c, 3)
    lines = Ledger(queue_path).path.read_bytes().splitlines()
    qid = queue_id(queue_path)
    assert lines[0] + b"\n" == JOURNAL_LEDGER_HEADER % qid
    assert lines[1] == b'{"op":"next","order":4}'
    assert sorted(lines[2:]) == sorted([
        b'{"op":"pending","from":[1,%d],"order":3,"batch":1}' % len(
            JOURNAL_HEADER % (1, qid) + b'1 1000.000000 "a"\n2 1000.000000 "b"\n'),
        b'{"op":"entry","order":2,"item":"b","attempts":1,"held":false,"until":1005.0,'
        b'"put_at":1000.0,"delivered":1}',
        b'{"op":"entry","order":3,"item":"c","attempts":1,"held":true,"until":1004.0,'
        b'"put_at":1000.0,"delivered":1}',
        b'{"op":"dead-letter","order":1,"item":"a","attempts":1,"put_at":1000.0,'
        b'"died_at":1001.0,"delivered":1}',
    ])
    again = FileQueue(queue_path, clock=lambda: clock[0], max_attempts=1)
    assert again.stats()[:4] == (0, 1, 1, 1)
    [dead] = again.dead()
    assert (dead.item, dead.order, dead.attempts, dead.put_at, dead.died_at) == (
        "a", 1, 1, NOW, NOW + 1)
    assert again.requeue_dead() == 1
    assert b'{"op":"entry","order":1,"item":"a","attempts":0,"held":false,"until":0.0,' \
        b'"put_at":1000.0,"delivered":1}' in Ledger(queue_path).path.read_bytes().splitlines()
    assert again.stats().oldest_waiting_age == 1.0, "a requeued item keeps its put time"
    assert again.requeue_dead() == 0
    assert again.stats()[:4] == (1, 1, 1, 0)


def test_a_version_2_head_file_left_empty_is_rebuilt_from_the_first_line(queue_path):
    # Version 2 created its head file empty: a crash before the first head write left it so.
    queue_path.parent.mkdir(parents=True)
    lines = b'1 1000.000000 "a"\n2 1000.000000 "b"\n'
    queue_path.write_bytes(JOURNAL_V2_HEADER % 1 + lines)
    head_path = queue_path.with_name(queue_path.name + ".head")
    head_path.write_bytes(b"")
    q = FileQueue(queue_path, format="journal", clock=lambda: NOW)
    assert q._storage.describe()["version"] == 2
    header = len(JOURNAL_V2_HEADER % 1)
    claim = q.claim()
    assert claim.item == "a"
    ledger_lines = Ledger(queue_path).path.read_bytes().splitlines(keepends=True)
    assert ledger_lines[0] == LEDGER_HEADER, "a version-2 journal has no id to name"
    assert ledger_lines[1].endswith(b'"from":[1,%d]}\n' % header)
    assert slots(head_path) == [None, (1, 1, header + len(b'1 1000.000000 "a"\n'))]
    assert queue_path.read_bytes() == JOURNAL_V2_HEADER % 1 + lines, "written as version 2"


def test_a_head_of_an_older_generation_points_past_the_new_header(queue_path):
    q = FileQueue(queue_path, format="journal", clock=lambda: NOW)
    for item in "ab":
        q.put(item)
    # What a compaction leaves when it is killed after its rename, before its head write:
    qid = queue_id(queue_path)
    queue_path.write_bytes(JOURNAL_HEADER % (2, qid) + b'2 1000.000000 "b"\n')
    reopened = FileQueue(queue_path, format="journal", clock=lambda: NOW)
    assert reopened.claim().item == "b"
    take = Ledger(queue_path).path.read_bytes().splitlines()[1]
    assert take.endswith(b'"from":[2,%d]}' % len(JOURNAL_HEADER % (2, qid)))


def test_a_rewritten_file_keeps_its_mode_whatever_the_writers_umask(tmp_path, umask):
    umask(0o002)
    path = tmp_path / "shared.json"
    write_atomic(path, b"[]")
    assert oct(path.stat().st_mode & 0o777) == oct(0o664)
    umask(0o077)
    write_atomic(path, b"[1]")
    assert oct(path.stat().st_mode & 0o777) == oct(0o664), "a stricter writer must not lock out"
    assert oct(file_mode(tmp_path / "new")) == oct(0o600)
