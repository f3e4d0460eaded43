"""Checking a history: ``check`` picks the checkers that fit it and composes their verdicts.

A put/get history gets ``queue``, ``fifo`` and ``errors`` (``harness.checkers.fifo``); a
claim/ack history gets ``delivery`` and ``errors`` (``harness.checkers.delivery``). Each says
valid true, false or unknown; a checker that breaks says unknown, never a pass (Jepsen's
``compose`` and ``check-safe``).
"""

from __future__ import annotations

from ..errors import HistoryError
from .base import (
    CheckerResult,
    CheckReport,
    Clock,
    History,
    Violation,
    clock_problem,
    history_start,
    item_key,
    run_safely,
    show_value,
    unknown,
)
from .delivery import DeliveryFacts, check_delivery, is_delivery_history
from .errors import check_errors
from .fifo import FifoFacts, check_fifo, check_queue

__all__ = [
    "CheckReport",
    "CheckerResult",
    "Violation",
    "check",
    "item_key",
    "show_value",
]


def check(history: History) -> CheckReport:
    """The verdict on ``history`` from every checker that fits it; unknown, naming the
    processes, when its times are on clocks that cannot be compared."""
    problem = clock_problem(history)
    if problem is not None:
        names = ("delivery", "errors") if is_delivery_history(history) else (
            "queue", "fifo", "errors")
        return CheckReport(unknown(names, problem), {}, history_start(history))
    if is_delivery_history(history):
        return check_claims_history(history)
    return check_fifo_history(history)


def check_fifo_history(history: History) -> CheckReport:
    """``queue``, ``fifo`` and ``errors`` on a put/get history."""
    start = history_start(history)
    try:
        facts = FifoFacts(history, Clock(start))
    except HistoryError as error:
        return CheckReport(unknown(("queue", "fifo", "errors"), str(error)), {}, start)
    checkers = run_safely({
        "queue": lambda: check_queue(facts),
        "fifo": lambda: check_fifo(facts),
        "errors": lambda: check_errors(history, facts.failed, facts.clock),
    })
    return CheckReport(checkers, facts.counts(), start)


def check_claims_history(history: History) -> CheckReport:
    """``delivery`` and ``errors`` on a claim/ack history."""
    start = history_start(history)
    try:
        facts = DeliveryFacts(history, Clock(start))
    except (KeyError, TypeError, ValueError) as error:
        reason = f"the history is not a claim/ack history ({type(error).__name__}: {error})"
        return CheckReport(unknown(("delivery", "errors"), reason), {}, start)
    counts = facts.counts()

    def delivery() -> CheckerResult:
        result, more = check_delivery(facts)
        counts.update(more)
        return result

    checkers = run_safely({
        "delivery": delivery,
        "errors": lambda: check_errors(history, facts.failed, facts.clock),
    })
    return CheckReport(checkers, counts, start)
