"""At-least-once delivery: claims, leases, ack, nack, extend, dead letters, stats."""

import json
import math
import os

import pytest

from queue_core import Claim, ClaimError, CorruptQueueError, FileQueue, QueueStats
from queue_core.claims import LedgerState
from queue_core.ledger import Ledger
from queue_core.storage import FORMATS
from tests.support.fake_clock import FakeClock


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def make_queue(queue_path, queue_format, clock):
    opened = []

    def make(**options):
        q = FileQueue(queue_path, format=queue_format, clock=clock, **options)
        opened.append(q)
        return q

    yield make
    for q in opened:
        q.close()


@pytest.fixture
def q(make_queue):
    return make_queue()


def fill(q, *items):
    for item in items:
        q.put(item)


def test_a_claimed_item_is_hidden_until_its_lease_ends(q, clock):
    fill(q, "a", "b")
    first = q.claim(lease=10)
    assert (first.item, first.attempt, first.until) == ("a", 1, clock.now + 10)
    assert q.claim(lease=10).item == "b"
    assert q.claim(lease=10) is None
    assert q.get() is None
    assert q.size() == 0


def test_an_expired_claim_comes_back_at_its_place_before_later_items(q, clock):
    fill(q, "a", "b", "c")
    lost = q.claim(lease=5)
    assert q.claim(lease=100).item == "b"
    clock.advance(5)
    again = q.claim(lease=5)
    assert (again.item, again.order, again.attempt) == ("a", lost.order, 2)
    assert again.id != lost.id
    assert q.claim(lease=5).item == "c"


def test_get_takes_expired_claims_first(q, clock):
    fill(q, "a", "b")
    q.claim(lease=1)
    clock.advance(1)
    assert [q.get(), q.get(), q.get()] == ["a", "b", None]


def test_ack_removes_the_item_for_good(q, clock):
    fill(q, "a")
    claim = q.claim(lease=1)
    q.ack(claim)
    clock.advance(100)
    assert q.claim() is None
    assert q.stats().in_flight == 0


def test_a_second_ack_raises_and_changes_nothing(q):
    fill(q, "a", "b")
    claim = q.claim()
    q.ack(claim)
    with pytest.raises(ClaimError, match="no longer in the queue"):
        q.ack(claim)
    assert q.get() == "b"


def test_ack_after_the_item_was_claimed_again_raises_and_keeps_the_new_claim(q, clock):
    fill(q, "a")
    old = q.claim(lease=1)
    clock.advance(2)
    new = q.claim(lease=10)
    with pytest.raises(ClaimError, match="delivered again"):
        q.ack(old)
    with pytest.raises(ClaimError):
        q.nack(old)
    with pytest.raises(ClaimError):
        q.extend(old, 100)
    assert q.stats().in_flight == 1
    q.ack(new)
    assert q.stats().in_flight == 0


def test_ack_after_expiry_succeeds_while_nobody_claimed_the_item_again(q, clock):
    fill(q, "a")
    claim = q.claim(lease=1)
    clock.advance(5)
    q.ack(claim)
    assert q.claim() is None


def test_nack_gives_the_item_back_at_its_place(q):
    fill(q, "a", "b")
    claim = q.claim()
    q.nack(claim)
    with pytest.raises(ClaimError, match="given back with nack"):
        q.ack(claim)
    again = q.claim()
    assert (again.item, again.attempt) == ("a", 2)
    with pytest.raises(ClaimError, match="delivered again"):
        q.ack(claim)


def test_nack_with_a_delay_hides_the_item_until_the_delay_ends(q, clock):
    fill(q, "a", "b")
    q.nack(q.claim(), delay=30)
    stats = q.stats()
    assert (stats.waiting, stats.delayed) == (1, 1)
    assert q.claim().item == "b"
    assert q.claim() is None
    clock.advance(30)
    assert q.claim().item == "a"


def test_extend_holds_the_item_past_its_first_lease(q, clock):
    fill(q, "a")
    claim = q.claim(lease=10)
    clock.advance(8)
    renewed = q.extend(claim, 10)
    assert renewed.until == clock.now + 10
    clock.advance(8)
    assert q.claim() is None
    q.ack(renewed)
    assert q.stats().in_flight == 0


def test_the_original_claim_object_stays_valid_after_extend(q, clock):
    fill(q, "a")
    claim = q.claim(lease=10)
    q.extend(claim, 50)
    clock.advance(20)
    q.ack(claim)
    assert q.claim() is None


def test_after_max_attempts_the_item_goes_to_the_dead_letters(make_queue, clock):
    q = make_queue(max_attempts=2)
    fill(q, "poison", "fine")
    for attempt in (1, 2):
        last = q.claim(lease=1)
        assert (last.item, last.attempt) == ("poison", attempt)
        clock.advance(1)
    assert q.claim(lease=1).item == "fine"
    [dead] = q.dead()
    assert (dead.item, dead.attempts, dead.died_at) == ("poison", 2, clock.now)
    assert q.stats().dead == 1
    with pytest.raises(ClaimError, match="dead letters"):
        q.ack(last)


def test_nacks_count_as_attempts(make_queue):
    q = make_queue(max_attempts=3)
    fill(q, "a")
    for _ in range(3):
        q.nack(q.claim())
    assert q.claim() is None
    assert [d.item for d in q.dead()] == ["a"]


def test_requeue_dead_puts_items_back_in_front_with_fresh_attempts(make_queue, clock):
    q = make_queue(max_attempts=1)
    fill(q, "a", "b", "c")
    q.claim(lease=1)
    q.claim(lease=1)
    clock.advance(1)
    assert [d.item for d in q.dead()] == ["a", "b"]
    assert q.requeue_dead() == 2
    assert q.dead() == []
    claims = [q.claim(), q.claim(), q.claim()]
    assert [(c.item, c.attempt) for c in claims] == [("a", 1), ("b", 1), ("c", 1)]


def test_a_queue_that_never_had_claims_has_no_dead_letters_to_requeue(q):
    fill(q, "a")
    assert q.requeue_dead() == 0
    assert q.dead() == []
    assert q.get() == "a"


def test_stats_and_size_count_expired_claims_as_waiting_and_spent_ones_as_dead(make_queue,
                                                                               clock):
    q = make_queue(max_attempts=2)
    fill(q, "a", "b", "c")
    q.claim(lease=10)
    q.claim(lease=10)
    clock.advance(10)  # both leases end now: a and b wait again, at their places
    assert q.stats()[:4] == (3, 0, 0, 0)
    assert q.size() == 3
    last = q.claim(lease=5)
    assert (last.item, last.attempt) == ("a", 2)
    clock.advance(5)  # a used up its attempts; no claim has moved it to the dead letters yet
    assert q.stats()[:4] == (2, 0, 0, 1)
    assert q.size() == 2
    assert [d.item for d in q.dead()] == ["a"]
    assert q.claim().item == "b"
    assert q.stats()[:4] == (1, 1, 0, 1)


def test_stats_counts_every_state_and_the_oldest_waiting_age(q, clock, queue_format):
    fill(q, "a")
    clock.advance(3)
    fill(q, "b", "c", "d")
    q.claim(lease=10)  # a: in flight
    q.nack(q.claim(), delay=60)  # b: delayed
    clock.advance(2)
    stats = q.stats()
    assert (stats.waiting, stats.in_flight, stats.delayed, stats.dead) == (2, 1, 1, 0)
    assert q.size() == 2
    if queue_format == "journal":
        assert stats.oldest_waiting_age == pytest.approx(2)  # c, put 2 s ago
    else:
        assert stats.oldest_waiting_age is None  # a JSON array keeps no put times
    clock.advance(10)
    assert q.stats().oldest_waiting_age == (
        pytest.approx(15) if queue_format == "journal" else None)  # a came back


def test_an_empty_queue_has_no_oldest_age(q):
    assert q.stats() == QueueStats(0, 0, 0, 0, None)


def test_opening_the_queue_resets_no_claim(q, make_queue, clock):
    fill(q, "a", "b")
    claim = q.claim(lease=10)
    other = make_queue()
    assert other.claim().item == "b"
    assert other.stats().in_flight == 2
    other.ack(claim)
    assert q.stats().in_flight == 1


def test_a_claim_is_accepted_by_the_same_queue_opened_through_another_path(
        q, queue_path, queue_format, tmp_path):
    fill(q, "a")
    claim = q.claim()
    link = tmp_path / "link"
    link.symlink_to(queue_path.parent)
    FileQueue(link / queue_path.name, format=queue_format).ack(claim)
    assert q.stats().in_flight == 0


def test_a_claim_from_another_queue_is_refused(q, tmp_path, queue_format):
    other = FileQueue(tmp_path / "other" / "tasks.json", format=queue_format)
    other.put("x")
    fill(q, "a")
    foreign = other.claim()
    with pytest.raises(ClaimError, match="another queue"):
        q.ack(foreign)
    assert q.claim().item == "a"


@pytest.mark.parametrize("lease", [0, -1, math.nan, math.inf, "5", True])
def test_a_bad_lease_is_refused(q, lease):
    fill(q, "a")
    with pytest.raises(ValueError, match="lease"):
        q.claim(lease=lease)
    assert q.size() == 1


@pytest.mark.parametrize("delay", [-1, math.nan, math.inf])
def test_a_bad_nack_delay_is_refused(q, delay):
    fill(q, "a")
    claim = q.claim()
    with pytest.raises(ValueError, match="delay"):
        q.nack(claim, delay=delay)
    assert q.stats().in_flight == 1


@pytest.mark.parametrize("attempts", [0, -1, 1.5, None])
def test_a_bad_max_attempts_is_refused(queue_path, attempts):
    with pytest.raises(ValueError, match="max_attempts"):
        FileQueue(queue_path, max_attempts=attempts)


def test_a_corrupt_claims_file_raises_and_stays_untouched(q, queue_path, queue_format):
    fill(q, "a")
    q.claim()
    ledger = Ledger(queue_path).path
    with open(ledger, "ab") as log:
        log.write(b'{"op": "remove", "order": 99}\n')
    before = ledger.read_bytes()
    with pytest.raises(CorruptQueueError, match=r"claims.*cannot be applied"):
        FileQueue(queue_path, format=queue_format).claim()
    assert ledger.read_bytes() == before
    ledger.write_text("[]\n")
    with pytest.raises(CorruptQueueError, match="not a queue-claims version 1 header"):
        FileQueue(queue_path, format=queue_format).claim()


@pytest.mark.parametrize("fsync", [False, True], ids=["no-fsync", "fsync"])
def test_claims_and_acks_reach_the_disk_only_with_fsync(queue_path, queue_format, fsync,
                                                         monkeypatch):
    from queue_core import ledger

    monkeypatch.setattr(ledger, "COMPACT_MIN_BYTES", 0)  # the ledger is compacted too
    q = FileQueue(queue_path, format=queue_format, fsync=fsync)
    fill(q, *range(10))
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    ledger_temp = ".tasks.json.claims.tmp-"
    q.claim()  # creates the ledger
    created = [p for p in synced if os.path.basename(p).startswith(ledger_temp)]
    assert len(created) == (1 if fsync else 0)
    synced.clear()
    held = q.claim()
    q.nack(held)
    for _ in range(8):
        q.ack(q.claim())
    if fsync:
        assert str(Ledger(queue_path).path.resolve()) in synced
        assert str(queue_path.parent.resolve()) in synced, "a compaction syncs the directory"
        assert any(os.path.basename(p).startswith(ledger_temp) for p in synced), "its snapshot"
    else:
        assert synced == []


class Crash(BaseException):
    """A process killed at this point: no ``except Exception`` cleanup runs."""


def test_a_crash_between_the_ledger_and_the_storage_neither_loses_nor_repeats(
        q, make_queue, clock, monkeypatch):
    fill(q, "a", "b")
    storage_class = type(q._storage)

    def crash(self, count):
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(storage_class, "pop_many", crash)
        with pytest.raises(Crash):
            q.claim(lease=10)
    reopened = make_queue()
    stats = reopened.stats()
    assert (stats.waiting, stats.in_flight) == (2, 0), \
        "the claim never returned: 'a' is waiting, first in line, and not also claimed"
    assert reopened.claim(lease=10).item == "a"
    assert reopened.get() == "b"
    assert reopened.get() is None
    clock.advance(10)
    assert reopened.claim().item == "a", "the new claim's lease ended: 'a' comes back once"
    assert reopened.claim() is None


def test_a_cut_short_move_in_a_ledger_that_names_no_pending_order_is_finished(
        q, make_queue, queue_path):
    """A snapshot written before the ledger kept the pending item's order: the move out of
    the storage is finished, as that version did, so the item is not both waiting and held."""
    fill(q, "a")
    q.ack(q.claim())  # the ledger and the lock file's flag exist
    q.put("c")
    position = q._storage.position()
    ledger = Ledger(queue_path)
    ledger.queue_id = q._storage.queue_id
    header = ledger._header()
    ledger.path.write_bytes(header + b"".join(json.dumps(r).encode() + b"\n" for r in [
        {"op": "next", "order": 4},
        {"op": "pending", "from": position},
        {"op": "entry", "order": 3, "item": "c", "attempts": 1, "held": True,
         "until": 2e9, "put_at": None},
    ]))
    reopened = make_queue()
    assert reopened.stats()[:2] == (0, 1), "'c' is held by the ledger, not also waiting"
    assert reopened.get() is None


def test_a_json_array_crash_before_the_pending_mark_is_cleared_loses_nothing(
        tmp_path, clock, monkeypatch):
    path = tmp_path / "tasks.json"
    q = FileQueue(path, format="json-array", clock=clock)
    fill(q, "a")
    original_append = Ledger.append

    def crash_before_settling(self, *records, **options):
        if records and records[0]["op"] == "settled":
            raise Crash
        original_append(self, *records, **options)

    with monkeypatch.context() as patch:
        patch.setattr(Ledger, "append", crash_before_settling)
        with pytest.raises(Crash):
            q.claim(lease=10)
    # The array now looks exactly as it did before the claim once "a" is put again.
    reopened = FileQueue(path, format="json-array", clock=clock)
    reopened.put("a")
    assert reopened.get() == "a", "the second 'a' is a new item and must not be dropped"
    clock.advance(10)
    assert reopened.claim().item == "a"
    assert reopened.claim() is None


def test_both_formats_are_covered():
    assert set(FORMATS) == {"journal", "json-array"}


def test_the_ledger_is_compacted_and_other_openers_follow(q, make_queue, clock, monkeypatch):
    from queue_core import ledger

    monkeypatch.setattr(ledger, "COMPACT_MIN_BYTES", 500)
    other = make_queue()
    fill(q, *range(200))
    held = q.claim(lease=10)
    for _ in range(100):
        q.ack(q.claim())
    assert len(q._ledger.path.read_bytes()) < 2000, "the log was replaced by a snapshot"
    assert other.stats().in_flight == 1
    other.ack(held)
    assert [c.item for c in (other.claim(), q.claim())] == [101, 102]


def test_a_half_written_ledger_record_is_ignored_then_cut(q, queue_path, make_queue, clock):
    fill(q, "a", "b")
    q.claim(lease=10)
    path = Ledger(queue_path).path
    with open(path, "ab") as log:
        log.write(b'{"op":"remove","ord')
    reopened = make_queue()
    assert reopened.stats().in_flight == 1
    assert reopened.claim().item == "b"
    assert path.read_bytes().count(b'"ord\n') == 0
    assert all(line.endswith(b"}") for line in path.read_bytes().splitlines())


@pytest.mark.parametrize(("record", "message"), [
    ({"op": "next", "order": -1}, "-1 is not a count"),
    ({"op": "next", "order": 1.0}, "1.0 is not a count"),
    ({"op": "next", "order": True}, "True is not a count"),
    ({"op": "next", "order": "3"}, "'3' is not a count"),
    ({"op": "entry", "order": 1, "item": "x", "attempts": 0, "held": False, "until": "5",
      "put_at": None}, "'5' is not a time"),
    ({"op": "entry", "order": 1, "item": "x", "attempts": 0, "held": False, "until": True,
      "put_at": None}, "True is not a time"),
    ({"op": "entry", "order": 1, "item": "x", "attempts": 0, "held": False, "until": 5,
      "put_at": math.inf}, "inf is not a time"),
    ({"op": "dead-letter", "order": 1, "item": "x", "attempts": -2, "put_at": None,
      "died_at": 1}, "-2 is not a count"),
    ({"op": "dead-letter", "order": 1, "item": "x", "attempts": 2, "put_at": None,
      "died_at": math.nan}, "nan is not a time"),
    ({"op": "stolen", "order": 1}, "unknown record 'stolen'"),
])
def test_a_ledger_record_with_a_bad_value_is_refused_by_name(record, message):
    state = LedgerState()
    with pytest.raises(ValueError) as caught:
        state.apply(record)
    assert str(caught.value) == message


def test_ledger_records_take_zero_counts_and_integer_times():
    state = LedgerState()
    state.apply({"op": "entry", "order": 0, "item": "x", "attempts": 0, "held": False,
                 "until": 5, "put_at": 7})
    state.apply({"op": "dead-letter", "order": 4, "item": "y", "attempts": 0, "put_at": None,
                 "died_at": 9})
    state.apply({"op": "next", "order": 0})
    entry, dead = state.entries[0], state.dead[4]
    assert (entry.until, entry.put_at, dead.died_at) == (5.0, 7.0, 9.0)
    assert all(type(t) is float for t in (entry.until, entry.put_at, dead.died_at))
    assert (dead.item, dead.order, dead.attempts, dead.put_at) == ("y", 4, 0, None)
    assert state.next_order == 0


def test_first_claims_number_the_items_one_by_one_from_1(q):
    fill(q, "a", "b", "c")
    claims = [q.claim(), q.claim(), q.claim()]
    assert [(c.order, c.id) for c in claims] == [(1, "1.1"), (2, "2.1"), (3, "3.1")]


def test_the_defaults_are_five_attempts_and_a_30_second_lease(queue_path, queue_format, clock):
    q = FileQueue(queue_path, format=queue_format, clock=clock)
    assert q.max_attempts == 5
    fill(q, "a")
    claim = q.claim()
    assert (claim.claimed_at, claim.until) == (clock.now, clock.now + 30)
    for attempt in range(2, 6):
        q.nack(claim)
        claim = q.claim()
        assert (claim.attempt, claim.claimed_at) == (attempt, clock.now)
    q.nack(claim)
    assert q.claim() is None
    assert [d.attempts for d in q.dead()] == [5]


def test_reading_the_queue_writes_nothing(q, queue_path, clock):
    fill(q, "a", "b")
    q.claim(lease=5)
    ledger_bytes = Ledger(queue_path).path.read_bytes()
    data_bytes = queue_path.read_bytes()
    for _ in range(3):
        q.stats()
        q.size()
        q.dead()
    assert Ledger(queue_path).path.read_bytes() == ledger_bytes
    assert queue_path.read_bytes() == data_bytes


def test_a_spent_claim_is_dead_for_ack_once_a_claim_of_another_item_moved_it(make_queue,
                                                                             clock):
    q = make_queue(max_attempts=2)
    fill(q, "a", "b")
    q.claim(lease=1)
    q.claim(lease=1)
    clock.advance(1)  # a and b wait again
    last_of_a = q.claim(lease=1)
    assert (last_of_a.item, last_of_a.attempt) == ("a", 2)
    clock.advance(1)  # a is spent
    assert q.claim(lease=1).item == "b"  # this claim moves a to the dead letters
    with pytest.raises(ClaimError, match="dead letters"):
        q.ack(last_of_a)
    [dead] = make_queue().dead()
    assert (dead.item, dead.order, dead.attempts, dead.put_at is None or dead.put_at > 0,
            dead.died_at) == ("a", 1, 2, True, clock.now)


def test_an_item_that_is_spent_but_not_moved_is_listed_with_its_details(make_queue, clock,
                                                                        queue_format):
    q = make_queue(max_attempts=1)
    fill(q, "a")
    claim = q.claim(lease=4)
    clock.advance(4)
    [dead] = q.dead()
    put_at = None if queue_format == "json-array" else clock.now - 4
    assert (dead.item, dead.order, dead.attempts, dead.put_at, dead.died_at) == (
        "a", claim.order, 1, put_at, claim.until)


def test_requeued_items_are_ready_at_once_whatever_the_clock(queue_path, queue_format):
    now = [0.0]
    q = FileQueue(queue_path, format=queue_format, clock=lambda: now[0], max_attempts=1)
    fill(q, "a")
    q.nack(q.claim())
    assert q.claim() is None
    assert q.requeue_dead() == 1
    assert q.stats()[:4] == (1, 0, 0, 0)
    assert q.claim().item == "a"


def ledger_records(queue_path):
    return len(Ledger(queue_path).path.read_bytes().splitlines()) - 1


def test_the_ledger_is_compacted_once_it_holds_more_than_four_times_its_snapshot(
        q, queue_path, queue_format, monkeypatch):
    from queue_core import ledger

    monkeypatch.setattr(ledger, "COMPACT_MIN_BYTES", 0)
    fill(q, *range(40))
    held = [q.claim(lease=100), q.claim(lease=100)]
    counts = []
    for _ in range(9):
        claim = q.claim()
        counts.append(ledger_records(queue_path))
        q.ack(claim)
        counts.append(ledger_records(queue_path))
    # Two held entries make a snapshot of 4 records (next, the pending mark of a journal, the
    # entries; a JSON array's claims settle at once): compacted at the change that makes the
    # log hold more than 4 x 4 = 16 records. A journal's claim is one record, a JSON array's
    # two (take, settled).
    if queue_format == "journal":
        assert counts == [*range(3, 18), 4, 5, 6]
    else:
        assert counts == [6, 7, 9, 10, 12, 13, 15, 16, 18, 3, 5, 6, 8, 9, 11, 12, 14, 15]
    assert [c.item for c in held] == [0, 1]


def test_a_short_ledger_is_never_compacted(q, queue_path):
    fill(q, *range(300))
    for n in range(150):
        q.ack(q.claim())
        assert ledger_records(queue_path) >= 2 * n + 2


def test_a_claim_the_queue_never_made_is_refused(q):
    stranger = Claim("x", 1, 1, 0.0, 10.0, q._identity)
    with pytest.raises(ClaimError, match="no longer in the queue"):
        q.ack(stranger)
    fill(q, "a")
    q.claim()
    with pytest.raises(ClaimError, match=r"cannot extend claim 7\.1"):
        q.extend(Claim("x", 7, 1, 0.0, 10.0, q._identity), 5)


def test_extend_refuses_a_lease_of_zero(q):
    fill(q, "a")
    claim = q.claim()
    with pytest.raises(ValueError, match="greater than 0"):
        q.extend(claim, 0)


def test_stats_count_several_delayed_and_spent_items(make_queue, clock):
    q = make_queue(max_attempts=1)
    fill(q, *"abcdef")
    for _ in range(2):
        q.nack(q.claim(), delay=50)  # a, b: delayed, and spent once visible
    q.claim(lease=5)
    q.claim(lease=5)  # c, d: in flight
    assert q.stats()[:4] == (2, 2, 2, 0)
    clock.advance(5)  # c, d spent
    assert q.stats()[:4] == (2, 0, 2, 2)
    clock.advance(45)  # a, b spent too
    assert q.stats()[:4] == (2, 0, 0, 4)
    assert q.size() == 2
