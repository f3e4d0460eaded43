"""Many processes and threads on one queue: each item comes out once, in order per producer."""

import multiprocessing
import threading
from collections import defaultdict

import pytest

from queue_core import FileQueue

PRODUCERS = 4
CONSUMERS = 4
ITEMS_PER_PRODUCER = 1000

fork = multiprocessing.get_context("fork")


def _produce(path, fmt, producer, count):
    queue = FileQueue(path, format=fmt)
    for n in range(count):
        queue.put(f"p{producer}:{n}")


def _consume(path, fmt, total, taken, consumer, results):
    queue = FileQueue(path, format=fmt)
    got = []
    while True:
        with taken.get_lock():
            if taken.value >= total:
                break
        item = queue.get()
        if item is not None:
            got.append(item)
            with taken.get_lock():
                taken.value += 1
    results.put((consumer, got))


def _check_exactly_once_and_per_producer_order(items, producers, per_producer):
    assert len(items) == len(set(items)), "an item came out twice"
    expected = {f"p{p}:{n}" for p in range(producers) for n in range(per_producer)}
    assert set(items) == expected, "items were lost or invented"


@pytest.mark.timeout(120)
def test_eight_processes_move_every_item_exactly_once_in_producer_order(queue_path, queue_format):
    FileQueue(queue_path, format=queue_format)
    total = PRODUCERS * ITEMS_PER_PRODUCER
    taken = fork.Value("i", 0)
    results = fork.Queue()
    workers = [
        fork.Process(target=_produce, args=(queue_path, queue_format, p, ITEMS_PER_PRODUCER))
        for p in range(PRODUCERS)
    ] + [
        fork.Process(target=_consume, args=(queue_path, queue_format, total, taken, c, results))
        for c in range(CONSUMERS)
    ]
    for worker in workers:
        worker.start()
    per_consumer = dict(results.get(timeout=100) for _ in range(CONSUMERS))
    for worker in workers:
        worker.join(timeout=10)
        assert worker.exitcode == 0

    everything = [item for got in per_consumer.values() for item in got]
    _check_exactly_once_and_per_producer_order(everything, PRODUCERS, ITEMS_PER_PRODUCER)
    for got in per_consumer.values():
        last_seen = defaultdict(lambda: -1)
        for item in got:
            producer, n = item[1:].split(":")
            assert int(n) > last_seen[producer], f"{item} came out after a later item"
            last_seen[producer] = int(n)
    assert FileQueue(queue_path, format=queue_format).size() == 0


def test_threads_of_one_process_share_a_queue_object_safely(queue):
    def produce(t):
        for n in range(200):
            queue.put(f"p{t}:{n}")

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    items = []
    while (item := queue.get()) is not None:
        items.append(item)
    _check_exactly_once_and_per_producer_order(items, 4, 200)
    for t in range(4):
        mine = [int(i.split(":")[1]) for i in items if i.startswith(f"p{t}:")]
        assert mine == sorted(mine)


def _use_inherited_queue(queue, producer):
    for n in range(300):
        queue.put(f"p{producer}:{n}")


def test_a_queue_object_inherited_through_fork_still_excludes_the_parent(queue):
    children = [fork.Process(target=_use_inherited_queue, args=(queue, p)) for p in range(1, 4)]
    for child in children:
        child.start()
    _use_inherited_queue(queue, 0)
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    items = []
    while (item := queue.get()) is not None:
        items.append(item)
    _check_exactly_once_and_per_producer_order(items, 4, 300)


def _size_reader(path, fmt, stop, errors):
    queue = FileQueue(path, format=fmt)
    while not stop.is_set():
        try:
            queue.size()
        except Exception as error:  # the assertion below reports what escaped
            errors.put(repr(error))
            return


def test_size_never_raises_while_others_write(queue_path, queue_format):
    queue = FileQueue(queue_path, format=queue_format)
    stop = fork.Event()
    errors = fork.Queue()
    readers = [fork.Process(target=_size_reader, args=(queue_path, queue_format, stop, errors))
               for _ in range(2)]
    for reader in readers:
        reader.start()
    for n in range(1500):
        queue.put({"n": n, "pad": "x" * 200})
        if n % 3 == 0:
            queue.get()
    stop.set()
    for reader in readers:
        reader.join(timeout=30)
        assert reader.exitcode == 0
    assert errors.empty(), errors.get()


def _open_and_put(path, fmt, start, n):
    start.wait()
    FileQueue(path, format=fmt).put(f"item-{n}")


def test_processes_creating_a_new_queue_at_once_lose_nothing(tmp_path, queue_format):
    for attempt in range(5):
        path = tmp_path / f"fresh-{attempt}" / "tasks.json"
        start = fork.Event()
        openers = [fork.Process(target=_open_and_put, args=(path, queue_format, start, n))
                   for n in range(12)]
        for opener in openers:
            opener.start()
        start.set()
        for opener in openers:
            opener.join(timeout=30)
            assert opener.exitcode == 0
        queue = FileQueue(path, format=queue_format)
        assert sorted(iter(queue.get, None)) == sorted(f"item-{n}" for n in range(12))
