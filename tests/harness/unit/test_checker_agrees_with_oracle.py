"""The checker agrees with an exhaustive search on small histories that Hypothesis generates.

Three families: histories of a correct queue (each effect at a random instant inside its
operation's interval), the same broken the way a buggy queue breaks them, and wild histories
whose gets return put values in random order. A disagreement shrinks to a minimal history.
"""

from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from harness.checkers import check
from harness.checkers.oracle import linearizable

AGREEMENT = settings(max_examples=1000, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


@st.composite
def intervals(draw, max_processes=3, max_per_process=4):
    """Operations as (process, call, return) with each process's calls in sequence."""
    found = []
    for process in range(draw(st.integers(1, max_processes))):
        clock = draw(st.integers(0, 5))
        for _ in range(draw(st.integers(1, max_per_process))):
            call = clock + draw(st.integers(1, 10))
            clock = call + draw(st.integers(1, 25))
            found.append((process, call, clock))
    return found


@st.composite
def distinct_times(draw, events):
    """Spread the integer times so that no two are equal (ties make real instants ambiguous)."""
    stamps = sorted({t for e in events for t in (e["call"], e["return"]) if t is not None})
    spread = {t: i * 10 for i, t in enumerate(stamps)}
    for e in events:
        e["call"] = spread[e["call"]] + draw(st.integers(0, 4))
        if e["return"] is not None:
            e["return"] = spread[e["return"]] + 5 + draw(st.integers(0, 4))
    return events


@st.composite
def correct_histories(draw, crashes: bool):
    """A history of a correct queue: each effect at some instant inside its interval."""
    events = []
    for value, (process, call, ret) in enumerate(draw(intervals())):
        is_put = draw(st.booleans())
        events.append({"process": process, "op": "put" if is_put else "get",
                       "value": f"v{value}" if is_put else None, "call": call, "return": ret,
                       "point": call + draw(st.floats(0, 1)) * (ret - call)})
    queue = []
    for op in sorted(events, key=lambda e: e["point"]):
        if op["op"] == "put":
            queue.append(op["value"])
        else:
            op["value"] = queue.pop(0) if queue else None
    for op in events:
        del op["point"]
        op["type"] = "ok"
        if crashes and draw(st.integers(0, 4)) == 0:
            op["type"], op["return"] = "info", None
            if op["op"] == "get":
                op["value"] = None
    return draw(distinct_times(events))


@st.composite
def broken(draw, histories):
    """A correct history broken the way a buggy queue breaks one."""
    history = draw(histories)
    gets = [op for op in history if op["op"] == "get" and op["type"] == "ok"]
    puts = [op for op in history if op["op"] == "put"]
    if not gets:
        return history
    victim = draw(st.sampled_from(gets))
    choice = draw(st.integers(0, 4))
    if choice == 0:
        victim["value"] = None
    elif choice == 1 and puts:
        victim["value"] = draw(st.sampled_from(puts))["value"]
    elif choice == 2:
        other = draw(st.sampled_from(gets))
        victim["value"], other["value"] = other["value"], victim["value"]
    elif choice == 3:
        victim["value"] = "never-put"
    else:
        history.remove(victim)
    return history


@st.composite
def wild_histories(draw, crashes: bool):
    """Random intervals whose gets return put values in random order, or nothing."""
    events = []
    for value, (process, call, ret) in enumerate(
            draw(intervals(max_processes=4))):
        crashed = crashes and draw(st.integers(0, 2)) == 0
        is_put = draw(st.integers(0, 99)) < 55
        events.append({"process": process, "op": "put" if is_put else "get",
                       "value": f"v{value}" if is_put else None,
                       "type": "info" if crashed else "ok", "call": call,
                       "return": None if crashed else ret})
    values = draw(st.permutations([e["value"] for e in events if e["op"] == "put"]))
    for e in events:
        if e["op"] == "get" and e["type"] == "ok" and values and draw(st.integers(0, 4)) < 4:
            e["value"] = values.pop()
    return draw(distinct_times(events))


def fifo_verdict(history):
    return check(history).checkers["fifo"].valid


def either(crashes):
    return correct_histories(crashes) | broken(correct_histories(crashes))


@AGREEMENT
@given(either(crashes=False))
def test_checker_agrees_with_search_on_complete_histories(history):
    assert fifo_verdict(history) == linearizable(history)


@AGREEMENT
@given(either(crashes=True))
def test_checker_agrees_with_search_on_histories_with_crashed_operations(history):
    assert fifo_verdict(history) == linearizable(history)


@AGREEMENT
@given(st.booleans().flatmap(lambda crashes: wild_histories(crashes)))
def test_checker_agrees_with_search_on_wild_histories(history):
    assert fifo_verdict(history) == linearizable(history)


def test_every_family_holds_both_verdicts():
    """The agreement tests see linearizable and non-linearizable histories alike."""
    quick = settings(max_examples=2000, deadline=None, database=None)
    for family in (either(False), either(True), wild_histories(True)):
        assert linearizable(find(family, linearizable, settings=quick))
        assert not linearizable(find(family, lambda h: not linearizable(h), settings=quick))
