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

from .fake_clock import FakeClock

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
