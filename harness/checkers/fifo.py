"""The FIFO checkers of a put/get history: ``queue`` (what happened to every item) and ``fifo``
(is the history linearizable for a FIFO queue). Pure functions, O(n log n), never a search.

- ``queue`` counts, as Jepsen's total-queue does: ``lost`` (put ok, never got),
  ``duplicated``, ``unexpected`` (got, never put), ``recovered`` (put crashed, got anyway) and
  ``taken_by_killed_gets`` (missing items that a get killed in flight may have taken: the
  at-most-once contract allows one per killed get).
- ``fifo`` looks for the four patterns that make a history with unique put values
  non-linearizable for a FIFO queue, one function each:
  (a) ``fresh_values``: a get returns a value never put, or returns before that put was called;
  (b) ``repeated_values``: two gets return the same value;
  (c) ``order``: put(a) returned before put(b) was called, but get→b returned before get→a
      was called (or a was never got while b was);
  (d) ``empty_gets``: a get returns empty although at every instant of its duration at least
      one item was certainly in the queue.

Crashed operations are handled soundly: an ``info`` put whose value never appears is dropped,
one whose value appears counts as returned at infinity; an ``info`` get may have taken one item
at any time after its call. An operation that raised (``fail``) did not happen: its put's
value must never come out, and its get took nothing. No violation is reported that some
outcome of the crashed operations would explain.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from operator import itemgetter
from typing import Any

from ..errors import HistoryError
from ..history.format import DRAINED
from .base import (
    INF,
    CheckerResult,
    Clock,
    History,
    Violation,
    describe,
    item_key,
    show_value,
    verdict,
)


class FifoFacts:
    """What the FIFO checkers need, indexed once: puts by value, gets by value, crashed gets."""

    def __init__(self, history: History, clock: Clock) -> None:
        self.history = history
        self.clock = clock
        self.put_of: dict[Any, int] = {}
        self.get_of: dict[Any, int] = {}
        self.dup_gets: dict[Any, list[int]] = {}
        self.put_ret: dict[Any, float] = {}
        self.empty_gets: list[int] = []
        self.uncertain_gets: list[int] = []
        self.failed: list[int] = []
        #: The drain's marks that it saw the queue empty.
        self.drained: list[int] = []
        #: Items whose put raised: they must never come out.
        self.failed_puts: set[Any] = set()
        #: Times by item, kept while indexing so that the rules need not look them up again.
        self.put_call: dict[Any, int] = {}
        self.first_get_call: dict[Any, int] = {}
        self.earliest_get_return: dict[Any, int] = {}
        self.op_counts: Counter[str] = Counter()
        self._index(history)
        self.first_get_of = dict(self.get_of)
        self.earliest_get_of = dict(self.get_of)
        for key, gets in self.dup_gets.items():
            self.first_get_of[key] = first = min(gets, key=lambda i: history[i]["call"])
            self.earliest_get_of[key] = earliest = min(gets, key=lambda i: history[i]["return"])
            self.first_get_call[key] = history[first]["call"]
            self.earliest_get_return[key] = history[earliest]["return"]
        self._match_missing_items()

    def _index(self, history: History) -> None:
        # One pass over what may be millions of operations: locals, no calls per operation.
        put_of, put_ret, get_of, dup_gets = self.put_of, self.put_ret, self.get_of, self.dup_gets
        empty_gets, uncertain_gets, failed = self.empty_gets, self.uncertain_gets, self.failed
        drained, put_call, failed_puts = self.drained, self.put_call, self.failed_puts
        get_call, get_return = self.first_get_call, self.earliest_get_return
        kinds: Counter[str] = Counter()
        failed_gets = 0
        for index, op in enumerate(history):
            kind, name, value = op["type"], op["op"], op["value"]
            if kind != "ok":
                kinds[kind] += 1
                if kind == "fail":
                    failed.append(index)
            if name == "put":
                key = value if type(value) is str else item_key(value)
                if kind == "fail":  # it raised: it did not happen
                    failed_puts.add(key)
                    continue
                if key in put_of:
                    raise HistoryError(
                        f"put values must be unique, but {value!r} was put twice "
                        f"(operations {put_of[key]} and {index})"
                    )
                put_of[key] = index
                put_call[key] = op["call"]
                put_ret[key] = op["return"] if kind == "ok" else INF
            elif name == "get":
                if kind == "info":  # killed: it may have taken an item (one raised took none)
                    uncertain_gets.append(index)
                elif kind == "fail":
                    failed_gets += 1
                elif value is None:
                    empty_gets.append(index)
                else:
                    key = value if type(value) is str else item_key(value)
                    if key in get_of:
                        dup_gets.setdefault(key, [get_of[key]]).append(index)
                    else:
                        get_of[key] = index
                        get_call[key] = op["call"]
                        get_return[key] = op["return"]
            elif name == DRAINED and kind == "ok":
                drained.append(index)
        self.op_counts = kinds
        self.failed_gets = failed_gets
        self.put_ok = sum(1 for ret in put_ret.values() if ret != INF)

    def when(self, ns: float) -> str:
        """A time of the history as seconds since its start."""
        return self.clock.since_start(ns)

    def describe(self, index: int) -> str:
        """Operation ``index`` as messages name it."""
        return describe(self.history[index])

    def _match_missing_items(self) -> None:
        """Split the items put ok and never got into those the gets killed in flight may have
        taken, those lost, and those maybe still queued.

        An item needs a killed get to explain it when it had to leave the queue by some time
        (``_bounds``: before a later item came out, or before the queue was found empty). A
        killed get can take one item, at any time after its call; the killed gets are matched
        to the items as a whole, so that no item is called lost while some assignment of the
        killed gets explains it. (A get may take an item when it was called before the item's
        bound: these sets are nested, so matching the items by rising bound, each to the
        earliest get left, is a maximum matching.)"""
        history, get_of = self.history, self.get_of
        self.missing = [key for key, ret in self.put_ret.items()
                        if ret != INF and key not in get_of]
        calls = sorted(history[i]["call"] for i in self.uncertain_gets)
        bounds = self._bounds() if self.missing else {}
        self.explained: set[Any] = set()
        used = 0
        for bound, key in sorted(((b, k) for k, b in bounds.items() if b < INF),
                                 key=itemgetter(0)):
            if used < len(calls) and calls[used] < bound:
                self.explained.add(key)
                used += 1
        emptied = max((history[i]["call"] for i in (*self.empty_gets, *self.drained)),
                      default=-INF)
        self.lost: list[Any] = []
        self.remaining: list[Any] = []
        for key in self.missing:
            if key in self.explained:
                continue
            if self.put_ret[key] < emptied:
                self.lost.append(key)
            else:
                self.remaining.append(key)  # nothing shows the queue empty since: still queued

    def _bounds(self) -> dict[Any, float]:
        """For each missing item: the time by which it had to leave the queue (INF: none).
        It had to leave before a get of an item put after it returned returned (FIFO), and
        before a get that found the queue empty (or the drain's mark) returned, if that get
        was called after its put returned."""
        history, put_ret = self.history, self.put_ret
        fifo = self._deadlines()
        empties = sorted((history[i]["call"], history[i]["return"])
                         for i in (*self.empty_gets, *self.drained))
        empty_calls = [call for call, _ in empties]
        suffix_min = [INF] * (len(empties) + 1)
        for i in range(len(empties) - 1, -1, -1):
            suffix_min[i] = min(empties[i][1], suffix_min[i + 1])
        return {key: min(fifo[key], suffix_min[bisect_right(empty_calls, put_ret[key])])
                for key in self.missing}

    def _deadlines(self) -> dict[Any, float]:
        """For each missing item a: a must leave the queue before the first get of an item put
        after a returned returns."""
        put_call = self.put_call
        later = sorted((put_call[key], ret) for key, ret in self.earliest_get_return.items()
                       if key in put_call)
        later_calls = [call for call, _ in later]
        suffix_min = [INF] * (len(later) + 1)
        for i in range(len(later) - 1, -1, -1):
            suffix_min[i] = min(later[i][1], suffix_min[i + 1])
        return {key: suffix_min[bisect_right(later_calls, self.put_ret[key])]
                for key in self.missing}

    def counts(self) -> dict[str, int]:
        """What happened to the items and operations, whatever the checkers decide."""
        ops, put_ret = self.op_counts, self.put_ret
        return {
            "operations": len(self.history),
            "puts": len(put_ret) + len(self.failed_puts),
            "gets": len(self.get_of) + sum(len(v) - 1 for v in self.dup_gets.values())
            + len(self.empty_gets) + len(self.uncertain_gets) + self.failed_gets,
            "put_ok": self.put_ok,
            "got": len(self.get_of) + sum(len(v) - 1 for v in self.dup_gets.values()),
            "empty_gets": len(self.empty_gets),
            "crashed": ops["info"],
            "failed": len(self.failed),
            "lost": len(self.lost),
            "remaining": len(self.remaining),
            "taken_by_killed_gets": len(self.explained),
            "duplicated": len(self.dup_gets),
            "unexpected": len(self.get_of.keys() - put_ret.keys()),
            "recovered": sum(1 for key, ret in put_ret.items()
                             if ret == INF and key in self.get_of),
        }


def check_queue(facts: FifoFacts) -> CheckerResult:
    """The ``queue`` checker: lost, duplicated and unexpected items."""
    return verdict("queue", [*lost_items(facts), *duplicated_items(facts),
                             *unexpected_items(facts)])


def check_fifo(facts: FifoFacts) -> CheckerResult:
    """The ``fifo`` checker: the four patterns of a non-linearizable FIFO history."""
    return verdict("fifo", [*fresh_values(facts), *repeated_values(facts), *order(facts),
                            *empty_gets(facts)])


def lost_items(facts: FifoFacts) -> list[Violation]:
    """Items put ok and never got, though a get or the drain found the queue empty after their
    put returned, that no killed get explains."""
    history = facts.history
    found = []
    for key in facts.lost:
        put = facts.put_of[key]
        found.append(Violation(
            "lost", f"lost: {facts.describe(put)} returned at "
            f"{facts.when(history[put]['return'])} but the item was never got, though the "
            "queue was found empty after that", [put], history[put]["return"]))
    return found


def duplicated_items(facts: FifoFacts) -> list[Violation]:
    """Items got more than once."""
    history = facts.history
    found = []
    for gets in facts.dup_gets.values():
        times = ", ".join(facts.when(history[get]["return"]) for get in gets[:4])
        found.append(Violation(
            "duplicated", f"duplicated: {show_value(history[gets[0]]['value'])} was got "
            f"{len(gets)} times, at {times}",
            gets[:4], sorted(history[get]["return"] for get in gets)[1]))
    return found


def unexpected_items(facts: FifoFacts) -> list[Violation]:
    """Items got that nobody put."""
    history = facts.history
    return [
        Violation("unexpected", f"unexpected: {facts.describe(get)} returned at "
                  f"{facts.when(history[get]['return'])} a value that was never put"
                  + (" (its put raised, so it must not have happened)"
                     if key in facts.failed_puts else ""), [get], history[get]["return"])
        for key, get in facts.get_of.items() if key not in facts.put_of
    ]


def fresh_values(facts: FifoFacts) -> list[Violation]:
    """(a) gets of values never put, or that return before their put was called."""
    history = facts.history
    found = []
    put_of, dup_gets = facts.put_of, facts.dup_gets
    for key, first in facts.get_of.items():
        put = put_of.get(key)
        if put is None:
            found.append(Violation(
                "fresh", f"FIFO violated: {facts.describe(first)} returned at "
                f"{facts.when(history[first]['return'])} a value that was never put", [first],
                history[first]["return"]))
            continue
        put_call = history[put]["call"]
        for get in dup_gets.get(key, (first,)):
            if history[get]["return"] < put_call:
                found.append(Violation(
                    "fresh", f"FIFO violated: {facts.describe(get)} returned at "
                    f"{facts.when(history[get]['return'])} before {facts.describe(put)} was "
                    f"called at {facts.when(history[put]['call'])}",
                    [put, get], history[put]["call"]))
    return found


def repeated_values(facts: FifoFacts) -> list[Violation]:
    """(b) two gets of one value."""
    history = facts.history
    found = []
    for gets in facts.dup_gets.values():
        first, second = sorted(gets, key=lambda get: history[get]["return"])[:2]
        found.append(Violation(
            "repeated", f"FIFO violated: {facts.describe(first)} returned at "
            f"{facts.when(history[first]['return'])} and again at "
            f"{facts.when(history[second]['return'])}", [first, second],
            history[second]["return"]))
    return found


def order(facts: FifoFacts) -> list[Violation]:
    """(c) put(a) before put(b), but b out before a (or a never out while b is)."""
    explained, got_at = facts.explained, facts.first_get_call.get
    # a: items certainly in the queue from their put's return; their get's call, or never.
    firsts = [(ret, got_at(key, INF), key) for key, ret in facts.put_ret.items()
              if ret != INF and key not in explained]
    firsts.sort(key=_first)
    # b: items that were got; their put's call and their earliest get's return.
    put_call = facts.put_call
    seconds = [(put_call[key], ret, key) for key, ret in facts.earliest_get_return.items()
               if key in put_call]
    seconds.sort(key=_first)
    found = []
    latest_out, latest_key, added, count = -INF, None, 0, len(firsts)
    for b_call, b_got, b in seconds:
        while added < count and firsts[added][0] < b_call:
            if firsts[added][1] > latest_out:
                latest_out, latest_key = firsts[added][1], firsts[added][2]
            added += 1
        if latest_out > b_got:
            found.append(_order_violation(facts, latest_key, b))
    return found


_first = itemgetter(0)


def _order_violation(facts: FifoFacts, a: Any, b: Any) -> Violation:
    history = facts.history
    put_a, put_b = facts.put_of[a], facts.put_of[b]
    get_b = facts.earliest_get_of[b]
    head = (f"FIFO violated: {facts.describe(put_a)} returned at "
            f"{facts.when(history[put_a]['return'])} before {facts.describe(put_b)} was called "
            f"at {facts.when(history[put_b]['call'])}, but {facts.describe(get_b)} returned at "
            f"{facts.when(history[get_b]['return'])}")
    if a in facts.get_of:
        get_a = facts.first_get_of[a]
        return Violation("order", f"{head} before {facts.describe(get_a)} was called at "
                         f"{facts.when(history[get_a]['call'])}", [put_a, put_b, get_b, get_a],
                         history[get_a]["call"])
    return Violation("order", f"{head} while {show_value(history[put_a]['value'])} was never "
                     "got", [put_a, put_b, get_b], history[get_b]["return"])


def empty_gets(facts: FifoFacts) -> list[Violation]:
    """(d) a get found the queue empty while some item was certainly in it the whole time."""
    history = facts.history
    intervals = _certainly_present(facts)
    segments = _merge_open(intervals)
    starts = [start for start, _ in segments]
    found = []
    for get in facts.empty_gets:
        call, ret = history[get]["call"], history[get]["return"]
        at = bisect_left(starts, call) - 1
        if at >= 0 and segments[at][1] > ret:
            found.append(_empty_violation(facts, get, intervals))
    return found


def _certainly_present(facts: FifoFacts) -> list[tuple[float, float, Any]]:
    """Open intervals in which some item was certainly in the queue, with that item if known."""
    history, put_ret = facts.history, facts.put_ret
    intervals: list[tuple[float, float, Any]] = [
        (put_ret[key], end, key) for key, end in facts.first_get_call.items()
        if key in put_ret and put_ret[key] < end]
    # Items never got: certainly present while more of them had returned than killed gets
    # had begun (each killed get may have taken one, at any time after its call).
    events = sorted(
        [(facts.put_ret[key], 1) for key in facts.missing]
        + [(history[i]["call"], -1) for i in facts.uncertain_gets]
    )
    present, opened = 0, None
    for index, (time, step) in enumerate(events):
        present += step
        if index + 1 < len(events) and events[index + 1][0] == time:
            continue
        if present >= 1 and opened is None:
            opened = time
        elif present < 1 and opened is not None:
            intervals.append((opened, time, None))
            opened = None
    if opened is not None:
        intervals.append((opened, INF, None))
    return intervals


def _merge_open(intervals: list[tuple[float, float, Any]]) -> list[tuple[float, float]]:
    """Union of open intervals (s, e) as disjoint maximal ones, by start."""
    merged: list[list[float]] = []
    for start, end, _ in sorted(intervals, key=lambda x: x[0]):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _empty_violation(facts: FifoFacts, get: int,
                     intervals: list[tuple[float, float, Any]]) -> Violation:
    history = facts.history
    call, ret = history[get]["call"], history[get]["return"]
    head = (f"FIFO violated: {facts.describe(get)} was called at {facts.when(call)} and "
            f"returned at {facts.when(ret)}, but the queue certainly held ")
    for start, end, key in intervals:
        if start < call and ret < end and key is not None:
            put, got = facts.put_of[key], facts.first_get_of[key]
            return Violation("empty", head + f"{show_value(history[put]['value'])} all that "
                             f"time: {facts.describe(put)} returned at {facts.when(start)} and "
                             f"{facts.describe(got)} was called at {facts.when(end)}",
                             [get, put, got], ret)
    return Violation("empty", head + "at least one item at every instant of it", [get], ret)
