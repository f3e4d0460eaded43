"""The checker agrees with an exhaustive search on thousands of small random histories."""

import random

import pytest

from harness.checkers import check
from harness.search import linearizable


def simulate(rng: random.Random, processes: int, ops_per_process: int, crash_rate: float):
    """A history of a correct queue: random intervals, effects at random points inside them."""
    events = []
    value = 0
    for p in range(processes):
        clock = rng.randint(0, 5)
        for _ in range(ops_per_process):
            call = clock + rng.randint(1, 10)
            ret = call + rng.randint(1, 25)
            clock = ret
            point = rng.uniform(call, ret)
            if rng.random() < 0.5:
                value += 1
                events.append({"process": p, "op": "put", "value": f"v{value}",
                               "call": call, "return": ret, "point": point})
            else:
                events.append({"process": p, "op": "get", "value": None,
                               "call": call, "return": ret, "point": point})
    queue = []
    for op in sorted(events, key=lambda e: e["point"]):
        if op["op"] == "put":
            queue.append(op["value"])
        else:
            op["value"] = queue.pop(0) if queue else None
    for op in events:
        op["type"] = "ok"
        if rng.random() < crash_rate:
            op["type"] = "info"
            op["return"] = None
            if op["op"] == "get":
                op["value"] = None
        del op["point"]
    return distinct_times(events, rng)


def distinct_times(events, rng):
    """Spread the integer times so that no two are equal (ties make real instants ambiguous)."""
    stamps = sorted({t for e in events for t in (e["call"], e["return"]) if t is not None})
    spread = {t: i * 10 for i, t in enumerate(stamps)}
    for e in events:
        e["call"] = spread[e["call"]] + rng.randint(0, 4)
        if e["return"] is not None:
            e["return"] = spread[e["return"]] + 5 + rng.randint(0, 4)
    return events


def wild(rng: random.Random, crash_rate: float):
    """A history with random intervals whose gets return put values in random order."""
    events, value = [], 0
    for p in range(rng.randint(1, 4)):
        clock = rng.randint(0, 5)
        for _ in range(rng.randint(1, 4)):
            call = clock + rng.randint(1, 10)
            ret = call + rng.randint(1, 25)
            clock = ret
            kind = "info" if rng.random() < crash_rate else "ok"
            op = "put" if rng.random() < 0.55 else "get"
            if op == "put":
                value += 1
            events.append({"process": p, "op": op, "value": f"v{value}" if op == "put" else None,
                           "type": kind, "call": call, "return": None if kind == "info" else ret})
    values = [e["value"] for e in events if e["op"] == "put"]
    rng.shuffle(values)
    for e in events:
        if e["op"] == "get" and e["type"] == "ok" and values and rng.random() < 0.8:
            e["value"] = values.pop()
    return distinct_times(events, rng)


def mutate(history, rng):
    """Break a valid history the way a buggy queue would."""
    gets = [op for op in history if op["op"] == "get" and op["type"] == "ok"]
    puts = [op for op in history if op["op"] == "put"]
    if not gets:
        return history
    victim = rng.choice(gets)
    choice = rng.randrange(5)
    if choice == 0:
        victim["value"] = None
    elif choice == 1 and puts:
        victim["value"] = rng.choice(puts)["value"]
    elif choice == 2:
        other = rng.choice(gets)
        victim["value"], other["value"] = other["value"], victim["value"]
    elif choice == 3:
        victim["value"] = "never-put"
    else:
        history.remove(victim)
    return history


def cases(count, seed, crash_rate):
    rng = random.Random(seed)
    for n in range(count):
        history = simulate(rng, rng.randint(1, 3), rng.randint(1, 4), crash_rate)
        if n % 2:
            history = mutate(history, rng)
        yield n, history


def verdict(history):
    report = check(history)
    return report.checkers["fifo"].valid


@pytest.mark.parametrize("seed", range(4))
def test_checker_agrees_with_search_on_complete_histories(seed):
    outcomes = set()
    for n, history in cases(750, seed, crash_rate=0.0):
        expected = linearizable(history)
        outcomes.add(expected)
        assert verdict(history) == expected, (n, history)
    assert outcomes == {True, False}


@pytest.mark.parametrize("seed", range(4))
def test_checker_agrees_with_search_on_histories_with_crashed_operations(seed):
    outcomes = set()
    for n, history in cases(750, 100 + seed, crash_rate=0.2):
        expected = linearizable(history)
        outcomes.add(expected)
        assert verdict(history) == expected, (n, history)
    assert outcomes == {True, False}


@pytest.mark.parametrize("crash_rate", [0.0, 0.3])
def test_checker_agrees_with_search_on_wild_histories(crash_rate):
    rng = random.Random(7 + int(crash_rate * 10))
    outcomes = set()
    for n in range(3000):
        history = wild(rng, crash_rate)
        expected = linearizable(history)
        outcomes.add(expected)
        assert verdict(history) == expected, (n, history)
    assert outcomes == {True, False}
