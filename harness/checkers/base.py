"""What every checker shares: the verdict types, the item keys and displays, times in messages,
the wrapper that turns a broken checker into "unknown", and the errors checker."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..history.format import CLOCK

INF = math.inf
#: How many violations of each kind a result keeps (the counts are always complete).
KEEP = 20

History = list[dict[str, Any]]


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


def verdict(name: str, found: list[Violation]) -> CheckerResult:
    """The result of checker ``name`` that found ``found``: valid exactly when it is empty."""
    found.sort(key=lambda v: v.at)
    return CheckerResult(name, not found, len(found), found[:KEEP])


def unknown(names: tuple[str, ...], reason: str) -> dict[str, CheckerResult]:
    """Every checker of ``names`` as undecided, for ``reason``."""
    return {name: CheckerResult(name, None, error=reason) for name in names}


def run_safely(checkers: Mapping[str, Callable[[], CheckerResult]]) -> dict[str, CheckerResult]:
    """Run each checker by name; one that raises is 'unknown' with the error, never a pass."""
    results = {}
    for name, run in checkers.items():
        try:
            results[name] = run()
        except Exception as error:
            results[name] = CheckerResult(name, None, error=f"{type(error).__name__}: {error}")
    return results


def clock_problem(history: History) -> str | None:
    """Why the times of ``history`` cannot be compared, or None: its records name more than
    one clock (``clock``), or some name one and others none. Each clock's processes are
    named."""
    processes: dict[Any, list[Any]] = {}
    for op in history:
        named = processes.setdefault(op.get(CLOCK), [])
        if op["process"] not in named:
            named.append(op["process"])
    if len(processes) < 2:
        return None
    parts = [f"{'no clock named' if clock is None else f'clock {clock}'}: processes "
             f"{', '.join(map(str, names[:6]))}{' ...' if len(names) > 6 else ''}"
             for clock, names in processes.items()]
    return ("its times are on clocks that cannot be compared (a monotonic clock counts from "
            "its own machine's boot): " + "; ".join(parts))


def history_start(history: History) -> int:
    """The earliest call of the history: time zero of its messages."""
    return min((op["call"] for op in history), default=0)


class Clock:
    """Shows the history's times in messages, as seconds since its start."""

    def __init__(self, start: int) -> None:
        self.start = start

    def since_start(self, ns: float) -> str:
        """``ns`` as seconds since the start, or ``never`` for infinity."""
        return "never" if ns == INF else f"{(ns - self.start) / 1e9:.6f} s"


def describe(op: dict[str, Any]) -> str:
    """An operation as messages name it: ``put(v)``, ``get→v``, ``get→empty``, ``size()``..."""
    name = op["op"]
    if name == "get":
        if op["type"] != "ok":
            return "get"
        return "get→empty" if op["value"] is None else f"get→{show_value(op['value'])}"
    if name == "put":
        return f"put({show_value(op['value'])})"
    return f"{name}()"


def item_key(value: Any) -> Any:
    """A hashable key that tells one JSON item from another."""
    if type(value) is str:
        return value
    return value if isinstance(value, int | float) else json.dumps(value, sort_keys=True)


def show_value(value: Any) -> str:
    """An item as a violation message shows it: at most 40 characters."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
