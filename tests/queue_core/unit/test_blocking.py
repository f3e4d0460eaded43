"""Blocking get and claim: timeouts, wake-ups by a put in another process, the doorbell's
fallbacks, and a consumer that waits on an empty queue."""

import multiprocessing
import signal
import subprocess
import sys
import threading
import time

import pytest

from queue_core import FileQueue, doorbell
from queue_core.doorbell import Doorbell

FORK = multiprocessing.get_context("fork")


@pytest.fixture
def no_recheck(monkeypatch):
    """Waiters never look at the queue again on their own: only a ring (or the end of a lease
    or delay) can wake them."""
    monkeypatch.setattr(doorbell, "RECHECK_SECONDS", 3600.0)


def _wait_in_child(path, queue_format, method, sleeping, answers):
    doorbell.RECHECK_SECONDS = 3600.0
    real_wait = Doorbell.wait

    def announcing_wait(self, seconds):
        sleeping.set()
        return real_wait(self, seconds)

    Doorbell.wait = announcing_wait
    q = FileQueue(path, format=queue_format)
    if method == "get":
        answers.put(q.get(timeout=60))
    else:
        claim = q.claim(lease=30, timeout=60)
        answers.put(None if claim is None else claim.item)


@pytest.mark.parametrize("method", ["get", "claim"])
def test_a_waiter_in_another_process_is_woken_by_a_put(queue_path, queue_format, method):
    q = FileQueue(queue_path, format=queue_format)
    sleeping, answers = FORK.Event(), FORK.Queue()
    child = FORK.Process(target=_wait_in_child,
                         args=(queue_path, queue_format, method, sleeping, answers))
    child.start()
    try:
        assert sleeping.wait(30), "the waiter went to sleep on the doorbell"
        q.put({"id": 7})
        # The waiter re-checks only every hour: within 60 s only the doorbell can wake it.
        assert answers.get(timeout=90) == {"id": 7}
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    assert q.get() is None


@pytest.mark.parametrize("method", ["get", "claim"])
def test_a_waiter_with_a_timeout_returns_none_when_nothing_is_put(queue, method):
    if method == "get":
        assert queue.get(timeout=0.05) is None
    else:
        assert queue.claim(lease=5, timeout=0.05) is None
    queue.put("later")
    assert queue.get(timeout=0.05) == "later"


def test_timeout_none_waits_until_an_item_comes(queue, no_recheck):
    got = []
    waiter = threading.Thread(target=lambda: got.append(queue.get(timeout=None)))
    waiter.start()
    queue.put("x")
    waiter.join(60)
    assert got == ["x"]


def test_timeout_zero_never_waits_and_takes_what_is_there(queue, monkeypatch):
    monkeypatch.setattr(Doorbell, "wait", lambda self, seconds: pytest.fail("waited"))
    assert queue.get() is None and queue.get(timeout=0) is None
    assert queue.claim(timeout=0.0) is None
    queue.put("a")
    assert queue.get(timeout=0.0) == "a"


FALSY_ITEMS = [0, "", [], {}, False, 0.0]


@pytest.mark.parametrize("method", ["get", "claim"])
def test_a_waiter_returns_items_that_are_false_and_loses_none(queue, monkeypatch, method):
    real_wait = Doorbell.wait
    to_put = list(FALSY_ITEMS)

    def put_while_waiting(self, seconds):  # each item arrives while the waiter sleeps
        if to_put:
            queue.put(to_put.pop(0))
        return real_wait(self, seconds)

    monkeypatch.setattr(Doorbell, "wait", put_while_waiting)
    if method == "get":
        got = [queue.get(timeout=5) for _ in FALSY_ITEMS]
    else:
        got = [queue.claim(lease=5, timeout=5).item for _ in FALSY_ITEMS]
    assert got == FALSY_ITEMS
    assert queue.get() is None


@pytest.mark.parametrize("timeout", [-1, float("nan"), "1", True])
def test_a_bad_timeout_is_refused(queue, timeout):
    with pytest.raises(ValueError, match="timeout must be None or a number"):
        queue.get(timeout=timeout)
    with pytest.raises(ValueError, match="timeout must be None or a number"):
        queue.claim(timeout=timeout)


@pytest.mark.parametrize("how", ["lease ends", "nack delay ends"])
def test_a_waiter_takes_an_item_whose_lease_or_delay_ends(queue, no_recheck, how):
    queue.put("again")
    claim = queue.claim(lease=0.2 if how == "lease ends" else 30)
    if how == "nack delay ends":
        queue.nack(claim, delay=0.2)
    # Nobody rings: the waiter must wake when the lease or the delay ends.
    again = queue.claim(lease=30, timeout=60)
    assert again is not None and again.item == "again" and again.attempt == 2


def test_a_missed_ring_is_caught_up_by_the_recheck(queue, monkeypatch):
    monkeypatch.setattr(doorbell, "RECHECK_SECONDS", 0.01)
    monkeypatch.setattr(Doorbell, "ring", lambda self, times=1: None)  # every ring is lost
    got = []
    waiter = threading.Thread(target=lambda: got.append(queue.get(timeout=60)))
    waiter.start()
    queue.put("found")
    waiter.join(60)
    assert got == ["found"]


def test_without_a_usable_fifo_waiters_fall_back_to_rechecks(queue_path, tmp_path, monkeypatch):
    monkeypatch.setattr(doorbell, "BELL_DIRECTORY", tmp_path)
    monkeypatch.setattr(doorbell, "RECHECK_SECONDS", 0.01)
    q = FileQueue(queue_path)
    bell = q._bell.path
    bell.write_bytes(b"someone's file")  # not a FIFO: never written into
    got = []
    waiter = threading.Thread(target=lambda: got.append(q.get(timeout=60)))
    waiter.start()
    q.put("polled")
    waiter.join(60)
    assert got == ["polled"]
    assert bell.read_bytes() == b"someone's file"


def test_the_queue_directory_holds_only_regular_files(queue):
    queue.put("x")
    assert queue.get(timeout=0.01) == "x"
    assert queue.get(timeout=0.01) is None
    assert all(p.is_file() for p in queue.path.parent.iterdir())


def test_every_opener_of_a_queue_shares_one_doorbell(queue_path, tmp_path):
    first = FileQueue(queue_path)
    link = tmp_path / "link"
    link.symlink_to(queue_path.parent)
    assert FileQueue(link / queue_path.name)._bell.path == first._bell.path
    assert FileQueue(tmp_path / "other" / "tasks.json")._bell.path != first._bell.path


def test_rings_that_nobody_hears_do_not_block_puts(queue_path):
    queue = FileQueue(queue_path, format="journal")  # json-array puts cost the backlog
    for n in range(70_000):  # more than a pipe holds
        queue.put(n)
    assert queue.size() == 70_000
    assert queue.get(timeout=1) == 0


@pytest.mark.timeout(60)
def test_sigterm_stops_a_consumer_that_waits_on_an_empty_queue_within_2_seconds(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "queue_core.roles.consumer", "--queue-file",
         str(tmp_path / "tasks.json"), "--results-dir", str(tmp_path / "results")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert " started" in process.stdout.readline()
    assert "queue empty, waiting for tasks" in process.stdout.readline()
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=10)
    elapsed = time.monotonic() - began
    rest = process.stdout.read()
    assert code == 0 and "received SIGTERM" in rest, rest
    assert elapsed < 2.0


def test_a_waiting_consumer_takes_a_task_put_by_another_process(tmp_path, no_recheck):
    import random

    from queue_core.roles.consumer import consume
    from queue_core.roles.lifecycle import Lifecycle

    queue_file = tmp_path / "tasks.json"
    q = FileQueue(queue_file)
    putter = FORK.Process(target=lambda: FileQueue(queue_file).put(
        {"id": 3, "type": "send_email"}))
    putter.start()
    done = consume(q, Lifecycle(), random.Random(), results_dir=tmp_path / "r", worker="w",
                   work_times={"send_email": (0, 0)}, max_tasks=1, idle_sleep=3600)
    putter.join()
    assert done == 1 and (tmp_path / "r" / "result_3.json").exists()


# -- the waits step by step, on fake clocks ----------------------------------------------


class Sleeper:
    """Fake clocks for a waiter: each doorbell wait is recorded and passes at most 1 s (the
    recheck) of both the monotonic clock and the queue's clock; ``during`` runs in a wait."""

    def __init__(self, monkeypatch):
        from queue_core import queue as queue_module
        from tests.support.fake_clock import FakeClock

        self.clock = FakeClock()
        self.monotonic_now = 500.0
        self.waits = []
        self.during = {}  # wait number -> what happens while it sleeps
        sleeper = self

        class FakeTime:
            @staticmethod
            def monotonic():
                return sleeper.monotonic_now

        def wait(bell, seconds):
            sleeper.waits.append(round(seconds, 6))
            action = sleeper.during.get(len(sleeper.waits))
            if action is not None:
                action()
                return True
            passed = min(seconds, 1.0)
            sleeper.monotonic_now += passed
            sleeper.clock.advance(passed)
            return False

        monkeypatch.setattr(queue_module, "time", FakeTime)
        monkeypatch.setattr(Doorbell, "wait", wait)


@pytest.fixture
def sleeper(monkeypatch):
    return Sleeper(monkeypatch)


@pytest.mark.parametrize("method", ["get", "claim", "get_many", "claim_many"])
def test_a_waiter_sleeps_until_its_timeout_then_returns_nothing(queue_path, sleeper, method):
    q = FileQueue(queue_path, clock=sleeper.clock)
    call = {"get": lambda: q.get(timeout=2.5), "claim": lambda: q.claim(timeout=2.5),
            "get_many": lambda: q.get_many(3, timeout=2.5),
            "claim_many": lambda: q.claim_many(3, timeout=2.5)}[method]
    assert call() in (None, [])
    assert type(call()) is (list if method.endswith("many") else type(None))
    assert sleeper.waits[:3] == [2.5, 1.5, 0.5], "the time left, until none is left"


@pytest.mark.parametrize("method", ["get", "claim", "get_many", "claim_many"])
def test_a_waiter_takes_what_is_put_while_it_sleeps(queue_path, sleeper, method):
    q = FileQueue(queue_path, clock=sleeper.clock)
    sleeper.during[2] = lambda: q.put("late")
    got = {"get": lambda: q.get(timeout=10), "claim": lambda: q.claim(lease=7, timeout=10),
           "get_many": lambda: q.get_many(3, timeout=10),
           "claim_many": lambda: q.claim_many(3, lease=7, timeout=10)}[method]()
    assert sleeper.waits == [10.0, 9.0]
    if method == "get":
        assert got == "late"
    elif method == "get_many":
        assert got == ["late"]
    else:
        claims = [got] if method == "claim" else got
        assert [(c.item, c.until - sleeper.clock.now) for c in claims] == [("late", 7.0)]
    assert q.get() is None


def test_a_waiter_without_a_timeout_sleeps_on(queue_path, sleeper):
    q = FileQueue(queue_path, clock=sleeper.clock)
    sleeper.during[4] = lambda: q.put("at last")
    assert q.get(timeout=None) == "at last"
    assert sleeper.waits == [float("inf")] * 4


@pytest.mark.parametrize("method", ["get", "claim", "claim_many"])
def test_a_waiter_wakes_when_a_nack_delay_ends(queue_path, sleeper, method):
    q = FileQueue(queue_path, clock=sleeper.clock)
    q.put("again")
    q.nack(q.claim(lease=30), delay=0.7)
    got = {"get": lambda: q.get(timeout=5),
           "claim": lambda: getattr(q.claim(timeout=5), "item", None),
           "claim_many": lambda: [c.item for c in q.claim_many(2, timeout=5)]}[method]()
    assert got == (["again"] if method == "claim_many" else "again")
    assert sleeper.waits == [0.7], "slept until the delay ended, no longer"


def test_a_waiter_wakes_at_the_soonest_lease_end(queue_path, sleeper):
    q = FileQueue(queue_path, clock=sleeper.clock)
    for item in ("a", "b"):
        q.put(item)
    q.claim(lease=3.0)
    q.claim(lease=1.25)
    assert q.get(timeout=10) == "b"
    assert sleeper.waits == [1.25, 0.25], "to the lease's end (a wait passes at most 1 s)"


def test_an_item_that_used_up_its_attempts_does_not_shorten_a_wait(queue_path, sleeper):
    q = FileQueue(queue_path, clock=sleeper.clock, max_attempts=1)
    q.put("last try")
    q.claim(lease=0.3)  # its one attempt: when the lease ends it goes to the dead letters
    assert q.get(timeout=1.5) is None
    assert sleeper.waits == [1.5, 0.5]
    assert q.stats().dead == 1


def test_batches_neither_wait_by_default_and_claim_for_30_seconds(queue_path, monkeypatch):
    from tests.support.fake_clock import FakeClock

    monkeypatch.setattr(Doorbell, "wait", lambda self, seconds: pytest.fail("waited"))
    clock = FakeClock()
    q = FileQueue(queue_path, clock=clock)
    assert q.get_many(3) == [] and q.claim_many(3) == []
    q.put("a")
    [claim] = q.claim_many(3)
    assert claim.until == clock.now + 30.0


@pytest.mark.parametrize("lease", [0, -1.0])
def test_a_batch_s_lease_must_be_positive_word_for_word(queue, lease):
    with pytest.raises(ValueError) as caught:
        queue.claim_many(2, lease=lease)
    assert str(caught.value) == (f"lease must be a finite number of seconds greater than 0, "
                                 f"not {lease!r}")


@pytest.mark.parametrize("timeout", [-1, float("nan"), "1", True])
def test_a_bad_timeout_of_a_batch_is_refused_word_for_word(queue, timeout):
    for call in (lambda: queue.get_many(2, timeout=timeout),
                 lambda: queue.claim_many(2, timeout=timeout)):
        with pytest.raises(ValueError) as caught:
            call()
        assert str(caught.value) == (f"timeout must be None or a number of seconds of 0 or "
                                     f"more, not {timeout!r}")


@pytest.mark.parametrize("method", ["get_many", "claim_many"])
def test_a_batch_that_found_items_returns_them_without_waiting(queue, monkeypatch, method):
    monkeypatch.setattr(Doorbell, "wait", lambda self, seconds: pytest.fail("waited"))
    queue.put_many(["a", "b", "c", "d"])
    got = getattr(queue, method)(2, timeout=5)
    assert [getattr(x, "item", x) for x in got] == ["a", "b"]
    assert queue.get_many(10) == ["c", "d"]


def test_a_call_that_does_not_wait_leaves_the_doorbell_alone(queue, monkeypatch):
    """Its rings are for the waiters: a look without waiting must not drain them."""
    monkeypatch.setattr(Doorbell, "drain", lambda self: pytest.fail("drained"))
    monkeypatch.setattr(Doorbell, "wait", lambda self, seconds: pytest.fail("waited"))
    assert queue.get() is None and queue.claim() is None
    assert queue.get_many(3) == [] and queue.claim_many(3) == []
    assert queue.get_many(3, timeout=0) == [] and queue.claim_many(3, timeout=0.0) == []
