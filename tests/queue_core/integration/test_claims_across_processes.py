"""A claim outlives the process that made it: its item comes back when the lease ends."""

import multiprocessing

from queue_core import FileQueue


def _claim_and_vanish(path, fmt, now):
    q = FileQueue(path, format=fmt, clock=lambda: now)
    q.claim(lease=10)


def test_a_claim_made_by_a_process_that_died_comes_back_after_its_lease(queue_path,
                                                                       queue_format):
    now = [1_000_000.0]
    q = FileQueue(queue_path, format=queue_format, clock=lambda: now[0])
    q.put("a")
    q.put("b")
    child = multiprocessing.get_context("fork").Process(
        target=_claim_and_vanish, args=(queue_path, queue_format, now[0]))
    child.start()
    child.join()
    assert child.exitcode == 0
    assert q.claim(lease=30).item == "b"
    now[0] += 10
    again = q.claim(lease=30)
    assert (again.item, again.attempt) == ("a", 2)
