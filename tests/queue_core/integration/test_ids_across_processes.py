"""Task ids stay unique when several producer processes take them at once."""

import multiprocessing

from queue_core.roles.sequence import IdSequence

fork = multiprocessing.get_context("fork")


def _take_ids(path, count, out):
    ids = IdSequence(path)
    out.put([ids.next() for _ in range(count)])


def test_task_ids_are_unique_across_concurrent_producers(tmp_path):
    out = fork.Queue()
    workers = [fork.Process(target=_take_ids, args=(tmp_path / "ids", 200, out)) for _ in range(4)]
    for worker in workers:
        worker.start()
    taken = [i for _ in workers for i in out.get(timeout=60)]
    for worker in workers:
        worker.join()
    assert sorted(taken) == list(range(1, 801))
