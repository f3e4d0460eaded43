"""Decide whether a history is one of a FIFO queue: pure functions, O(n log n), never a search.

Three checkers, composed as in Jepsen: each says valid true, false or unknown (None).

- ``queue`` counts what happened to every item (Jepsen's total-queue): ``lost`` (put ok, never
  got), ``duplicated``, ``unexpected`` (got, never put), ``recovered`` (put info, got anyway)
  and ``taken_by_killed_gets`` (missing items that a get killed in flight may have taken: the
  at-most-once contract allows one per killed get).
- ``fifo`` looks for the four patterns that make a history with unique put values
  non-linearizable for a FIFO queue:
  (a) a get returns a value never put, or returns before that put was called;
  (b) two gets return the same value;
  (c) put(a) returned before put(b) was called, but get→b returned before get→a was called
      (or a was never got while b was);
  (d) a get returns empty although at every instant of its duration at least one item was
      certainly in the queue.
- ``errors``: operations that raised (type ``fail``). A correct queue never raises.

Crashed operations are handled soundly: an ``info`` (or ``fail``) put whose value never appears
is dropped, one whose value appears counts as returned at infinity; an ``info`` get may have
taken one item at any time after its call. No violation is reported that some outcome of the
crashed operations would explain.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

INF = math.inf
#: How many violations of each kind a result keeps (the counts are always complete).
KEEP = 20


@dataclass
class Violation:
    """One broken rule: its kind, a sentence naming the operations, and when it was complete."""

    kind: str
    message: str
    ops: list[int]
    at: float

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "ops": self.ops}


@dataclass
class CheckerResult:
    """One checker's verdict: valid true, false, or None when it could not decide."""

    name: str
    valid: bool | None
    count: int = 0
    violations: list[Violation] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "violations": self.count,
            "first": self.violations[0].message if self.violations else None,
            "error": self.error,
        }


@dataclass
class CheckReport:
    """The verdict on a history: every checker's result, the counts, and the first violation."""

    checkers: dict[str, CheckerResult]
    counts: dict[str, int]
    start_ns: int

    @property
    def valid(self) -> bool | None:
        verdicts = [c.valid for c in self.checkers.values()]
        if False in verdicts:
            return False
        return None if None in verdicts else True

    @property
    def violations(self) -> list[Violation]:
        found = [v for c in self.checkers.values() for v in c.violations]
        return sorted(found, key=lambda v: v.at)

    @property
    def first_violation(self) -> Violation | None:
        found = self.violations
        return found[0] if found else None

    def to_json(self) -> dict[str, Any]:
        first = self.first_violation
        return {
            "valid": self.valid,
            "counts": self.counts,
            "checkers": {name: c.to_json() for name, c in self.checkers.items()},
            "first_violation": first.to_json() if first else None,
        }


def check(history: list[dict[str, Any]]) -> CheckReport:
    """Run every checker on ``history``; a checker that breaks is 'unknown', never a pass.

    A history of the claim/ack workload goes to ``harness.delivery`` instead.
    """
    from .delivery import check_delivery, is_delivery_history

    if is_delivery_history(history):
        return check_delivery(history)
    start = min((op["call"] for op in history), default=0)
    try:
        facts = _Facts(history, start)
    except HistoryValueError as error:
        unknown = {n: CheckerResult(n, None, error=str(error)) for n in ("queue", "fifo", "errors")}
        return CheckReport(unknown, {}, start)
    checkers = {}
    for name, run in (("queue", _check_counts), ("fifo", _check_fifo), ("errors", _check_errors)):
        try:
            checkers[name] = run(facts)
        except Exception as error:  # a broken checker must say so, not pass
            checkers[name] = CheckerResult(name, None, error=f"{type(error).__name__}: {error}")
    return CheckReport(checkers, facts.counts(), start)


class HistoryValueError(ValueError):
    """The history breaks an assumption of the checker (put values must be unique)."""


class _Facts:
    """What the checkers need, indexed once: puts by value, gets by value, crashed gets."""

    def __init__(self, history: list[dict[str, Any]], start: int) -> None:
        self.history = history
        self.start = start
        put_of: dict[Any, int] = {}
        get_of: dict[Any, int] = {}
        dup_gets: dict[Any, list[int]] = {}
        put_ret: dict[Any, float] = {}
        self.empty_gets: list[int] = []
        self.uncertain_gets: list[int] = []
        self.failed: list[int] = []
        self.op_counts: Counter[str] = Counter()
        for index, op in enumerate(history):
            kind, name, value = op["type"], op["op"], op["value"]
            self.op_counts[name] += 1
            if kind != "ok":
                self.op_counts[kind] += 1
                if kind == "fail":
                    self.failed.append(index)
            if name == "put":
                key = value if type(value) is str else item_key(value)
                if key in put_of:
                    raise HistoryValueError(
                        f"put values must be unique, but {value!r} was put twice "
                        f"(operations {put_of[key]} and {index})"
                    )
                put_of[key] = index
                put_ret[key] = op["return"] if kind == "ok" else INF
            elif name == "get":
                if kind != "ok":
                    self.uncertain_gets.append(index)
                elif value is None:
                    self.empty_gets.append(index)
                else:
                    key = value if type(value) is str else item_key(value)
                    if key in get_of:
                        dup_gets.setdefault(key, [get_of[key]]).append(index)
                    else:
                        get_of[key] = index
        self.put_of, self.get_of, self.dup_gets, self.put_ret = put_of, get_of, dup_gets, put_ret
        h = history
        self.first_get_of = dict(get_of)
        self.earliest_get_of = dict(get_of)
        for k, gets in dup_gets.items():
            self.first_get_of[k] = min(gets, key=lambda i: h[i]["call"])
            self.earliest_get_of[k] = min(gets, key=lambda i: h[i]["return"])
        self._match_missing_items()

    def gets(self, key: Any) -> list[int]:
        """Every ok get that returned the item ``key``."""
        return self.dup_gets.get(key) or [self.get_of[key]]

    def _match_missing_items(self) -> None:
        """Split items put ok but never got into those a killed get may have taken, and lost."""
        h = self.history
        put_of, earliest = self.put_of, self.earliest_get_of
        later = sorted(
            (h[put_of[k]]["call"], h[g]["return"]) for k, g in earliest.items() if k in put_of
        )
        later_calls = [call for call, _ in later]
        suffix_min = [INF] * (len(later) + 1)
        for i in range(len(later) - 1, -1, -1):
            suffix_min[i] = min(later[i][1], suffix_min[i + 1])
        self.missing = [
            k for k, ret in self.put_ret.items() if ret != INF and k not in self.get_of
        ]
        # An item a must leave the queue before the first get of an item put after a returns.
        deadline = {
            k: suffix_min[bisect_right(later_calls, self.put_ret[k])] for k in self.missing
        }
        calls = sorted(h[i]["call"] for i in self.uncertain_gets)
        self.explained: set[Any] = set()
        self.lost: list[Any] = []
        used = 0
        for k in sorted(self.missing, key=lambda k: deadline[k]):
            if used < len(calls) and calls[used] < deadline[k]:
                self.explained.add(k)
                used += 1
            else:
                self.lost.append(k)

    def counts(self) -> dict[str, int]:
        ops, put_ret = self.op_counts, self.put_ret
        return {
            "operations": len(self.history),
            "puts": ops["put"],
            "gets": ops["get"],
            "put_ok": sum(ret != INF for ret in put_ret.values()),
            "got": len(self.get_of) + sum(len(v) - 1 for v in self.dup_gets.values()),
            "empty_gets": len(self.empty_gets),
            "crashed": ops["info"],
            "failed": len(self.failed),
            "lost": len(self.lost),
            "taken_by_killed_gets": len(self.explained),
            "duplicated": len(self.dup_gets),
            "unexpected": sum(k not in put_ret for k in self.get_of),
            "recovered": sum(put_ret.get(k, 0) == INF for k in self.get_of),
        }

    def t(self, ns: float) -> str:
        """A time as seconds since the history's start."""
        return "never" if ns == INF else f"{(ns - self.start) / 1e9:.6f} s"

    def name(self, index: int) -> str:
        op = self.history[index]
        if op["op"] not in ("put", "get"):
            return f"{op['op']}()"
        if op["op"] == "get":
            if op["type"] != "ok":
                return "get"
            return "get→empty" if op["value"] is None else f"get→{show_value(op['value'])}"
        return f"{op['op']}({show_value(op['value'])})"


def _check_counts(f: _Facts) -> CheckerResult:
    h = f.history
    found = []
    for k in f.lost:
        i = f.put_of[k]
        found.append(Violation(
            "lost", f"lost: {f.name(i)} returned at {f.t(h[i]['return'])} but the item was "
            "never got, not even by the final drain", [i], h[i]["return"]))
    for gets in f.dup_gets.values():
        found.append(Violation(
            "duplicated", f"duplicated: {show_value(h[gets[0]]['value'])} was got {len(gets)} "
            f"times, at {', '.join(f.t(h[g]['return']) for g in gets[:4])}",
            gets[:4], sorted(h[g]["return"] for g in gets)[1]))
    for k, g in f.get_of.items():
        if k not in f.put_of:
            found.append(Violation(
                "unexpected", f"unexpected: {f.name(g)} returned at {f.t(h[g]['return'])} "
                "a value that was never put", [g], h[g]["return"]))
    return _result("queue", found)


def _check_fifo(f: _Facts) -> CheckerResult:
    return _result("fifo", [*_fresh_values(f), *_repeated_values(f), *_order(f), *_empty(f)])


def _check_errors(f: _Facts) -> CheckerResult:
    found = [
        Violation("error", f"{f.name(i)} raised {f.history[i].get('error') or 'an error'} "
                  f"at {f.t(f.history[i]['return'])}", [i], f.history[i]["return"])
        for i in f.failed
    ]
    return _result("errors", found)


def _fresh_values(f: _Facts) -> list[Violation]:
    """(a) gets of values never put, or that return before their put was called."""
    h = f.history
    found = []
    for k, g in f.get_of.items():
        if k not in f.put_of:
            found.append(Violation(
                "fresh", f"FIFO violated: {f.name(g)} returned at {f.t(h[g]['return'])} a value "
                "that was never put", [g], h[g]["return"]))
            continue
        p = f.put_of[k]
        for g in f.gets(k):
            if h[g]["return"] < h[p]["call"]:
                found.append(Violation(
                    "fresh", f"FIFO violated: {f.name(g)} returned at {f.t(h[g]['return'])} "
                    f"before {f.name(p)} was called at {f.t(h[p]['call'])}",
                    [p, g], h[p]["call"]))
    return found


def _repeated_values(f: _Facts) -> list[Violation]:
    """(b) two gets of one value."""
    h = f.history
    found = []
    for gets in f.dup_gets.values():
        a, b = sorted(gets, key=lambda g: h[g]["return"])[:2]
        found.append(Violation(
            "repeated", f"FIFO violated: {f.name(a)} returned at {f.t(h[a]['return'])} and "
            f"again at {f.t(h[b]['return'])}", [a, b], h[b]["return"]))
    return found


def _order(f: _Facts) -> list[Violation]:
    """(c) put(a) before put(b), but b out before a (or a never out while b is)."""
    h = f.history
    # a: items certainly in the queue from their put's return; their get's call, or never.
    firsts = []
    first_get_of, explained = f.first_get_of, f.explained
    for k, ret in f.put_ret.items():
        if ret == INF or k in explained:
            continue
        g = first_get_of.get(k)
        firsts.append((ret, INF if g is None else h[g]["call"], k))
    firsts.sort(key=lambda item: item[0])
    # b: items that were got; their put's call and their earliest get's return.
    put_of = f.put_of
    seconds = sorted(
        ((h[put_of[k]]["call"], h[g]["return"], k)
         for k, g in f.earliest_get_of.items() if k in put_of),
        key=lambda item: item[0],
    )
    found = []
    best_call, best_key, added = -INF, None, 0
    for b_call, b_got, b in seconds:
        while added < len(firsts) and firsts[added][0] < b_call:
            if firsts[added][1] > best_call:
                best_call, best_key = firsts[added][1], firsts[added][2]
            added += 1
        if best_call > b_got:
            found.append(_order_violation(f, best_key, b))
    return found


def _order_violation(f: _Facts, a: Any, b: Any) -> Violation:
    h = f.history
    pa, pb = f.put_of[a], f.put_of[b]
    gb = f.earliest_get_of[b]
    head = (f"FIFO violated: {f.name(pa)} returned at {f.t(h[pa]['return'])} before {f.name(pb)} "
            f"was called at {f.t(h[pb]['call'])}, but {f.name(gb)} returned at "
            f"{f.t(h[gb]['return'])}")
    if a in f.get_of:
        ga = f.first_get_of[a]
        return Violation("order", f"{head} before {f.name(ga)} was called at "
                         f"{f.t(h[ga]['call'])}", [pa, pb, gb, ga], h[ga]["call"])
    return Violation("order", f"{head} while {show_value(h[pa]['value'])} was never got",
                     [pa, pb, gb], h[gb]["return"])


def _empty(f: _Facts) -> list[Violation]:
    """(d) a get found the queue empty while some item was certainly in it the whole time."""
    h = f.history
    intervals: list[tuple[float, float, Any]] = []
    put_ret = f.put_ret
    for k, g in f.first_get_of.items():
        if k in put_ret:
            start, end = put_ret[k], h[g]["call"]
            if start < end:
                intervals.append((start, end, k))
    # Items never got: certainly present while more of them had returned than killed gets
    # had begun (each killed get may have taken one, at any time after its call).
    events = sorted(
        [(f.put_ret[k], 1) for k in f.missing]
        + [(h[i]["call"], -1) for i in f.uncertain_gets]
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
    segments = _merge_open(intervals)
    starts = [s for s, _, _ in segments]
    found = []
    for g in f.empty_gets:
        call, ret = h[g]["call"], h[g]["return"]
        at = bisect_left(starts, call) - 1
        if at >= 0 and segments[at][1] > ret:
            found.append(_empty_violation(f, g, intervals))
    return found


def _merge_open(intervals: list[tuple[float, float, Any]]) -> list[tuple[float, float, None]]:
    """Union of open intervals (s, e) as disjoint maximal ones, by start."""
    merged: list[list[float]] = []
    for start, end, _ in sorted(intervals, key=lambda x: x[0]):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e, None) for s, e in merged]


def _empty_violation(f: _Facts, g: int, intervals: list[tuple[float, float, Any]]) -> Violation:
    h = f.history
    call, ret = h[g]["call"], h[g]["return"]
    head = (f"FIFO violated: {f.name(g)} was called at {f.t(call)} and returned at {f.t(ret)}, "
            "but the queue certainly held ")
    for start, end, key in intervals:
        if start < call and ret < end and key is not None:
            p, got = f.put_of[key], f.first_get_of[key]
            return Violation("empty", head + f"{show_value(h[p]['value'])} all that time: "
                             f"{f.name(p)} returned at {f.t(start)} and {f.name(got)} was "
                             f"called at {f.t(end)}", [g, p, got], ret)
    return Violation("empty", head + "at least one item at every instant of it", [g], ret)


def _result(name: str, found: list[Violation]) -> CheckerResult:
    found.sort(key=lambda v: v.at)
    return CheckerResult(name, not found, len(found), found[:KEEP])


def item_key(value: Any) -> Any:
    """A hashable key that tells one JSON item from another."""
    if type(value) is str:
        return value
    return value if isinstance(value, int | float) else json.dumps(value, sort_keys=True)


def show_value(value: Any) -> str:
    """An item as a violation message shows it: at most 40 characters."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
