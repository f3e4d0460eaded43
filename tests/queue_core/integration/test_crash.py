"""Writers SIGKILLed at random instants: no partial file, no lost put, no resurrected get."""

import multiprocessing
import os
import random
import signal
import threading

import pytest

from queue_core import FileQueue, ledger
from queue_core.atomic import temp_prefix
from queue_core.ledger import Ledger

fork = multiprocessing.get_context("fork")
WORKERS = 4
KILLS = 100
BACKLOG = 2000


def _worker(path, fmt, report_fd, worker_id, seed):
    rng = random.Random(seed)
    queue = FileQueue(path, format=fmt)
    def report(line):
        os.write(report_fd, f"{worker_id} {line}\n".encode())  # one write: atomic on a pipe

    for n in range(10**9):
        if rng.random() < 0.5:
            value = f"w{worker_id}:{n}"
            report(f"put? {value}")
            queue.put(value)
            report(f"put {value}")
        else:
            report("get?")
            report(f"got {queue.get()}")


def _collect(read_fd, lines):
    with os.fdopen(read_fd, "rb") as pipe:
        lines.extend(pipe.read().decode().splitlines())


@pytest.mark.timeout(180)
def test_sigkill_during_writes_keeps_every_returned_operation(queue_path, queue_format):
    rng = random.Random(20261126)
    queue = FileQueue(queue_path, format=queue_format)
    preloaded = [f"pre:{n}:" + "x" * 100 for n in range(BACKLOG)]
    for item in preloaded:  # a long file makes kills land mid-write
        queue.put(item)

    read_fd, write_fd = os.pipe()
    lines: list[str] = []
    collector = threading.Thread(target=_collect, args=(read_fd, lines))
    collector.start()
    next_id = 0

    def spawn():
        nonlocal next_id
        next_id += 1
        args = (queue_path, queue_format, write_fd, next_id, rng.random())
        worker = fork.Process(target=_worker, args=args)
        worker.start()
        return worker

    workers = [spawn() for _ in range(WORKERS)]
    for _ in range(KILLS):
        victim = workers.pop(rng.randrange(len(workers)))
        threading.Event().wait(rng.uniform(0.002, 0.02))  # a random instant, not a synchronisation
        os.kill(victim.pid, signal.SIGKILL)
        victim.join()
        assert FileQueue(queue_path, format=queue_format).size() >= 0, "a kill broke the queue"
        workers.append(spawn())
    for worker in workers:
        os.kill(worker.pid, signal.SIGKILL)
        worker.join()
    os.close(write_fd)
    collector.join()

    records = [[*line.split(" ", 2), ""] for line in lines]
    attempted = {value for _, op, value, *_ in records if op == "put?"} | set(preloaded)
    put = {value for _, op, value, *_ in records if op == "put"} | set(preloaded)
    got = [value for _, op, value, *_ in records if op == "got" and value != "None"]
    last_op = {worker: op for worker, op, *_ in records}
    gets_in_flight_when_killed = sum(op == "get?" for op in last_op.values())
    assert len(got) == len(set(got)), "an item was taken twice"
    remaining = FileQueue(queue_path, format=queue_format)
    size = remaining.size()
    final = list(iter(remaining.get, None))
    prefix = temp_prefix(queue_path)
    leftovers = [p for p in queue_path.parent.iterdir() if p.name.startswith(prefix)]
    assert not leftovers
    assert len(final) == len(set(final)), "an item is in the queue twice"
    assert set(got).isdisjoint(final), "an item whose get returned is back in the queue"
    assert set(final) <= attempted, "an item nobody put is in the queue"
    missing = put - set(got) - set(final)
    # A get killed after it took its item but before it could say so loses that one item:
    # the original's at-most-once contract. Nothing else may go missing.
    assert len(missing) <= gets_in_flight_when_killed, (
        f"{len(missing)} items whose put returned are gone, more than the "
        f"{gets_in_flight_when_killed} gets that were killed in flight"
    )
    assert size == len(final)
    assert len(got) > KILLS, "the workers did too little work for the test to mean anything"


def _claim_until_a_take_follows_a_compaction(path, fmt, now):
    """Claim and ack with a ledger compacted at every write it may compact; on the fifth first
    claim (a ``take``), written right after the snapshot that the previous ack made, die by
    SIGKILL before the item leaves the storage. A take that compacted exits with status 3: a
    take is never compacted, so that a failed removal can still cut it back."""
    compacted, takes = [], []
    real_compact, real_append = Ledger._compact, Ledger.append

    def compact(self):
        real_compact(self)
        compacted.append(True)

    def append(self, *records, **options):
        after_a_snapshot = bool(compacted)
        compacted.clear()
        real_append(self, *records, **options)
        if records[-1]["op"] == "take":
            takes.append(records[-1])
            if compacted:
                os._exit(3)
            if len(takes) == 5 and after_a_snapshot:
                os.kill(os.getpid(), signal.SIGKILL)

    ledger.COMPACT_MIN_BYTES, ledger.COMPACT_RATIO = 0, 0  # in the fork's own copy
    Ledger._compact, Ledger.append = compact, append
    queue = FileQueue(path, format=fmt, clock=lambda: now)
    while True:
        queue.ack(queue.claim(lease=10))


def test_a_claim_killed_right_after_a_ledger_compaction_loses_and_repeats_nothing(
        queue_path, queue_format):
    now = 1_000_000.0
    queue = FileQueue(queue_path, format=queue_format, clock=lambda: now + 10)
    items = [f"item-{n}" for n in range(40)]
    for item in items:
        queue.put(item)
    child = fork.Process(target=_claim_until_a_take_follows_a_compaction,
                         args=(queue_path, queue_format, now))
    child.start()
    child.join()
    assert child.exitcode == -signal.SIGKILL
    delivered = []
    while (claim := queue.claim()) is not None:
        delivered.append((claim.item, claim.attempt))
        queue.ack(claim)
    assert len(delivered) == len(items) - 4, "the child acked 4 items, then was killed"
    killed = delivered[0]
    # The claim never returned, so its item was never delivered: it stays first in line and
    # its ledger entry goes (queue_core.queue's _settled_ledger).
    assert killed == (items[4], 1), "the killed claim's item comes back first, as attempt 1"
    assert [item for item, _ in delivered] == items[-len(delivered):], "each item once, in order"
