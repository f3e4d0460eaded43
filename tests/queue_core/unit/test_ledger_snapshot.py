"""The claims ledger's snapshot rebuilds exactly the state it was taken from.

A Hypothesis state machine drives a queue through random puts, gets, claims, acks, nacks,
extensions, expiries (a fake clock) and requeues of dead letters. After every step the
ledger's ``snapshot()``, through JSON and replayed into an empty state, must equal the state;
and a compaction (the snapshot written over the log) followed by a fresh open must give the
same state, the same stats and the same dead letters.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from queue_core import ClaimError, FileQueue
from queue_core.claims import LedgerState
from tests.support.fake_clock import FakeClock

SETTINGS = settings(max_examples=80, stateful_step_count=30, deadline=None, derandomize=True,
                    database=None, suppress_health_check=[HealthCheck.too_slow])
if os.environ.get("MUTANT_UNDER_TEST"):  # under mutmut a failure needs no minimal example
    SETTINGS = settings(SETTINGS, phases=[Phase.explicit, Phase.generate])


def replayed(records):
    state = LedgerState()
    for record in json.loads(json.dumps(records)):
        state.apply(record)
    return state


class SnapshotRoundTrip(RuleBasedStateMachine):
    format = "journal"

    def __init__(self):
        super().__init__()
        self.directory = Path(tempfile.mkdtemp())
        self.clock = FakeClock()
        self.claims = []
        self.next_item = 0

    @initialize(max_attempts=st.integers(1, 3))
    def open_queue(self, max_attempts):
        self.max_attempts = max_attempts
        self.queue = self.open()

    def open(self):
        return FileQueue(self.directory / "tasks.json", format=self.format, clock=self.clock,
                         max_attempts=self.max_attempts)

    def teardown(self):
        if hasattr(self, "queue"):
            self.queue.close()
        shutil.rmtree(self.directory)

    @rule(count=st.integers(1, 3))
    def put(self, count):
        for _ in range(count):
            self.queue.put({"n": self.next_item})
            self.next_item += 1

    @rule()
    def get(self):
        self.queue.get()

    @rule(lease=st.sampled_from([1, 2.5, 10]))
    def claim(self, lease):
        claim = self.queue.claim(lease=lease)
        if claim is not None:
            self.claims.append(claim)

    @precondition(lambda self: self.claims)
    @rule(data=st.data(), action=st.sampled_from(["ack", "nack", "nack-later", "extend"]))
    def settle(self, data, action):
        claim = data.draw(st.sampled_from(self.claims))
        try:
            if action == "ack":
                self.queue.ack(claim)
            elif action == "nack":
                self.queue.nack(claim)
            elif action == "nack-later":
                self.queue.nack(claim, delay=3)
            else:
                self.queue.extend(claim, 4)
        except ClaimError:
            pass  # the claim ended already: refusing it is the queue's contract

    @rule(seconds=st.sampled_from([0.5, 1, 3, 20]))
    def advance(self, seconds):
        self.clock.now += seconds

    @rule()
    def requeue(self):
        dead = len(self.queue.dead())
        assert self.queue.requeue_dead() == dead

    @rule()
    def compact_and_reopen(self):
        ledger = self.queue._ledger
        before = ledger.load()
        if before is None:
            return
        expected = (replayed(before.snapshot()), self.queue.stats(), self.queue.dead())
        ledger._compact()
        reopened = self.open()
        try:
            state = reopened._ledger.load()
            assert (state, reopened.stats(), reopened.dead()) == expected
        finally:
            reopened.close()

    @invariant()
    def the_snapshot_rebuilds_the_state(self):
        if not hasattr(self, "queue"):
            return
        state = self.queue._ledger.load()
        if state is not None:
            assert replayed(state.snapshot()) == state


class JsonArraySnapshotRoundTrip(SnapshotRoundTrip):
    format = "json-array"


TestJournalSnapshotRoundTrip = SnapshotRoundTrip.TestCase
TestJournalSnapshotRoundTrip.settings = SETTINGS
TestJsonArraySnapshotRoundTrip = JsonArraySnapshotRoundTrip.TestCase
TestJsonArraySnapshotRoundTrip.settings = SETTINGS


# -- records written by earlier versions, and the entries a batch may take -------------------


def test_records_keep_their_delivery_counts_and_batch_and_older_ones_default():
    state = LedgerState()
    for record in (
        {"op": "entry", "order": 1, "item": "a", "attempts": 0, "held": False, "until": 0.0,
         "put_at": None, "delivered": 4},
        {"op": "entry", "order": 2, "item": "b", "attempts": 2, "held": False, "until": 0.0,
         "put_at": None},
        {"op": "dead-letter", "order": 3, "item": "c", "attempts": 1, "put_at": None,
         "died_at": 5.0, "delivered": 6},
        {"op": "dead-letter", "order": 4, "item": "d", "attempts": 3, "put_at": None,
         "died_at": 5.0},
    ):
        state.apply(record)
    assert [state.entries[1].delivered, state.entries[2].delivered] == [4, 2]
    assert [state.dead[3].delivered, state.dead[4].delivered] == [6, 3]
    state.apply({"op": "pending", "from": 9, "order": 7, "batch": 3})
    assert (state.pending, state.pending_order, state.pending_count) == (9, 7, 3)
    state.apply({"op": "pending", "from": 9, "order": 7})
    assert state.pending_count == 1, "a ledger from before batches: one item"


def test_only_ready_entries_with_attempts_left_are_taken_oldest_first():
    state = LedgerState()
    for order, attempts, held, until in ((1, 1, True, 50.0), (2, 3, False, 0.0),
                                         (3, 2, False, 10.0), (4, 0, False, 0.0),
                                         (5, 1, False, 20.0)):
        state.apply({"op": "entry", "order": order, "item": order, "attempts": attempts,
                     "held": held, "until": until, "put_at": None})
    assert [e.order for e in state.ready_entries(20.0, 3, 10)] == [3, 4, 5]
    assert [e.order for e in state.ready_entries(20.0, 3, 2)] == [3, 4]
    assert state.first_ready(20.0, 3).order == 3
    assert [e.order for e in state.spent(20.0, 3)] == [2]
