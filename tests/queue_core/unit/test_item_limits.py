"""What an item and a queue's name may be. ``put`` refuses what would not come back as it went
in: containers nested more than ``MAX_DEPTH`` levels deep (every reader must decode what a
put accepted: a batch's array, a claim's ledger record around it, from a caller deep in its
stack), and an object whose keys collide once JSON turns them into strings. An item already
stored that cannot be decoded is refused by every reader as damage naming the file, and never
taken. A queue's name must leave room for the files made beside it."""

import os
import sys

import pytest

from queue_core import CorruptQueueError, FileQueue, InvalidItemError
from queue_core.items import MAX_DEPTH
from tests.support.fake_clock import FakeClock


def nest(depth):
    """A list nested ``depth`` levels deep."""
    item = 0
    for _ in range(depth):
        item = [item]
    return item


def stack_depth():
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


def deep_in_the_stack(call, frames=200):
    """``call()`` made ``frames`` frames deeper than the caller: an application that puts and
    gets from deep in its own code."""
    target = stack_depth() + frames

    def down():
        return down() if stack_depth() < target else call()
    return down()


def test_an_item_nested_deeper_than_the_limit_is_refused_naming_it(queue, queue_path):
    queue.put("before")
    with pytest.raises(InvalidItemError, match=f"nested more than {MAX_DEPTH} levels deep"):
        queue.put(nest(MAX_DEPTH + 1))
    with pytest.raises(InvalidItemError, match="nested more than"):
        queue.put_many(["ok", {"deep": nest(MAX_DEPTH)}])  # one more level: the object
    assert queue.get_many(10) == ["before"]


def test_the_deepest_item_a_put_accepts_comes_back_from_every_reader(queue_path, open_queue):
    clock = FakeClock()
    queue = open_queue(queue_path, clock=clock)
    deepest = nest(MAX_DEPTH)
    deep_in_the_stack(lambda: queue.put_many([deepest, "after", deepest]))
    assert deep_in_the_stack(lambda: queue.get_many(2)) == [deepest, "after"]
    claim = deep_in_the_stack(lambda: queue.claim(lease=30.0))  # a ledger record holds it
    assert claim.item == deepest
    clock.advance(60.0)  # the lease ends: it comes back from the ledger
    assert deep_in_the_stack(lambda: open_queue(queue_path, clock=clock).get()) == deepest


def test_keys_that_collide_in_json_are_refused(queue):
    for item in ({1: "a", "1": "b"}, {True: "a", "true": "b"}, [{None: 1, "null": 2}],
                 {"outer": {1.5: "x", "1.5": "y"}}):
        with pytest.raises(InvalidItemError, match="would all become the key"):
            queue.put(item)
    assert queue.size() == 0


def test_keys_that_do_not_collide_come_back_as_json_turns_them_into_strings(queue):
    queue.put({1: "a", 2.5: "b", None: "c", False: "d"})
    assert queue.get() == {"1": "a", "2.5": "b", "null": "c", "false": "d"}
    queue.put({1: "a", True: "b"})  # noqa: F601 (one key for Python already: True == 1)
    assert queue.get() == {"1": "b"}


def append_line(queue_path, text):
    """A journal line written by another program (or an older version) after the others."""
    with open(queue_path, "ab") as data:
        data.write(f"99 1000.000000 {text}\n".encode())


@pytest.mark.parametrize("text, why", [("[" * 5000 + "]" * 5000, "nested too deep"),
                                       ('{"a": ', "not one JSON value")])
def test_a_get_never_takes_an_item_it_cannot_decode(queue_path, text, why):
    queue = FileQueue(queue_path)
    queue.put("first")
    at = queue_path.stat().st_size
    append_line(queue_path, text)
    queue.put("after")
    assert queue.get() == "first"
    for take in (queue.get, lambda: queue.get_many(2), lambda: queue.claim(lease=30.0)):
        with pytest.raises(CorruptQueueError, match=f"the line at byte {at}: .*{why}") as raised:
            take()
        assert raised.value.path == queue_path
    assert queue.size() == 2  # nothing was taken: the damage waits to be repaired


def test_a_ledger_record_too_deep_to_replay_is_a_damaged_ledger(queue_path):
    queue = FileQueue(queue_path)
    queue.put("a")
    queue.ack(queue.claim(lease=30.0))  # the ledger exists
    queue.close()
    claims = queue_path.with_name("tasks.json.claims")
    with open(claims, "ab") as ledger:
        ledger.write(b'{"op":"take","order":9,"item":' + b"[" * 5000 + b"]" * 5000 + b"}\n")
    with pytest.raises(CorruptQueueError) as raised:
        FileQueue(queue_path)
    assert raised.value.path == claims and "RecursionError" in str(raised.value)


def test_a_json_array_too_deep_to_decode_is_damaged(queue_path):
    FileQueue(queue_path, format="json-array").close()
    queue_path.write_bytes(b"[" + b"[" * 5000 + b"]" * 5000 + b"]")
    with pytest.raises(CorruptQueueError, match="nested too deep to decode"):
        FileQueue(queue_path, format="json-array")


@pytest.mark.parametrize("format", ["journal", "json-array"])
def test_a_queue_name_too_long_for_the_files_beside_it_is_refused_at_open(tmp_path, format):
    limit = os.pathconf(tmp_path, "PC_NAME_MAX") - len(".claims.tmp-XXXXXXXX") - 1
    with pytest.raises(ValueError, match=f"at most {limit} fit"):
        FileQueue(tmp_path / ("q" * (limit + 1)), format=format)
    queue = FileQueue(tmp_path / ("q" * limit), format=format)  # the longest name that fits
    queue.put("a")
    assert queue.claim(lease=30.0).item == "a"
