"""Decide whether a claim/ack history keeps the at-least-once contract: pure functions.

A history of the ``at-least-once`` workload holds ``put`` operations and, for consumers:

- ``claim``: ``value`` is ``null`` (nothing available) or ``{"item", "id", "attempt", "at",
  "until"}``: the item, the delivery's id, its attempt number, and the lease's start and end
  on the queue's clock (seconds);
- ``ack`` / ``nack``: ``value`` is ``{"item", "id"}`` plus ``"ended": true`` when the queue
  refused it because the claim had ended (a ``ClaimError``, the queue's correct answer to a
  late ack);
- ``dead``: recorded once by the drain, ``value`` is the list of dead-lettered items;
- ``killed``: the harness killed ``process`` at ``call``.

Checkers, each valid true, false or unknown (``None``):

- ``delivery``: every item put is acknowledged (or dead-lettered) in the end, never acked twice;
  no item is held by two live claims at once (a redelivery starts only after the previous
  lease ended or the previous claim was given back); no item is delivered after a successful
  ack; a refused ack is refused only when the item was delivered again; deliveries nobody
  observed are no more than the claims killed in flight; claims return only items put.
- ``errors``: operations that raised.

Every redelivery is tied to its cause in the counts: a nack, a holder killed while holding the
item, a claim killed in flight, or a lease that ended while its holder was still working.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .checker import INF, KEEP, CheckerResult, CheckReport, Violation, item_key, show_value

CLAIM_OPS = frozenset({"claim", "ack", "nack"})


def is_delivery_history(history: list[dict[str, Any]]) -> bool:
    """True when the history comes from the claim/ack workload."""
    return any(op["op"] in CLAIM_OPS for op in history)


@dataclass
class _Delivery:
    index: int
    item: Any
    id: str
    attempt: int
    at: float
    until: float
    process: Any


def check_delivery(history: list[dict[str, Any]]) -> CheckReport:
    """Run the delivery and errors checkers; a checker that breaks is 'unknown', never a pass."""
    start = min((op["call"] for op in history), default=0)
    try:
        facts = _Facts(history, start)
    except (KeyError, TypeError, ValueError) as error:
        reason = f"the history is not a claim/ack history ({type(error).__name__}: {error})"
        unknown = {n: CheckerResult(n, None, error=reason) for n in ("delivery", "errors")}
        return CheckReport(unknown, {}, start)
    counts = facts.basic_counts()
    checkers = {}
    try:
        checkers["delivery"], more = _check_delivery(facts)
        counts.update(more)
    except Exception as error:  # a broken checker must say so, not pass
        checkers["delivery"] = CheckerResult("delivery", None,
                                             error=f"{type(error).__name__}: {error}")
    checkers["errors"] = _check_errors(facts)
    return CheckReport(checkers, counts, start)


class _Facts:
    """The history indexed by item and by delivery id."""

    def __init__(self, history: list[dict[str, Any]], start: int) -> None:
        self.history, self.start = history, start
        self.put_ok: dict[Any, int] = {}
        self.put_maybe: dict[Any, int] = {}
        self.deliveries: dict[Any, list[_Delivery]] = {}
        self.by_id: dict[str, list[_Delivery]] = {}
        self.crashed_claims = 0
        self.acks_ok: dict[Any, list[int]] = {}
        self.acks_refused: list[int] = []
        self.acks_maybe: dict[Any, list[int]] = {}
        self.nacks: dict[str, list[int]] = {}
        self.dead: set[Any] = set()
        self.killed_at: dict[Any, int] = {}
        self.failed: list[int] = []
        self.crashed = 0
        for index, op in enumerate(history):
            self._index(index, op)
        for items in self.deliveries.values():
            items.sort(key=lambda d: (d.attempt, d.at))

    def _index(self, index: int, op: dict[str, Any]) -> None:
        name, kind, value = op["op"], op["type"], op["value"]
        if kind == "fail":
            self.failed.append(index)
            return
        if kind == "info":
            self.crashed += 1
        if name == "put":
            (self.put_ok if kind == "ok" else self.put_maybe)[item_key(value)] = index
        elif name == "claim":
            if kind != "ok":
                self.crashed_claims += 1
            elif value is not None:
                delivery = _Delivery(index, item_key(value["item"]), str(value["id"]),
                                     int(value["attempt"]), float(value["at"]),
                                     float(value["until"]), op["process"])
                self.deliveries.setdefault(delivery.item, []).append(delivery)
                self.by_id.setdefault(delivery.id, []).append(delivery)
        elif name == "ack":
            item = item_key(value["item"])
            if kind != "ok":
                self.acks_maybe.setdefault(item, []).append(index)
            elif value.get("ended"):
                self.acks_refused.append(index)
            else:
                self.acks_ok.setdefault(item, []).append(index)
        elif name == "nack" and not value.get("ended"):
            self.nacks.setdefault(str(value["id"]), []).append(index)
        elif name == "dead" and kind == "ok":
            self.dead.update(item_key(item) for item in value)
        elif name == "killed":
            self.killed_at[op["process"]] = op["call"]

    def t(self, ns: float) -> str:
        return "never" if ns == INF else f"{(ns - self.start) / 1e9:.6f} s"

    def name(self, delivery: _Delivery) -> str:
        op = self.history[delivery.index]
        return (f"claim #{delivery.index} (process {op['process']}, attempt {delivery.attempt},"
                f" returned at {self.t(op['return'])})")

    def basic_counts(self) -> dict[str, int]:
        """What the history holds, whatever the checkers decide."""
        return {
            "operations": len(self.history),
            "put_ok": len(self.put_ok),
            "claimed": sum(len(d) for d in self.deliveries.values()),
            "acked": len(set(self.acks_ok) | set(self.acks_maybe)),
            "dead": len(self.dead),
            "acks_refused": len(self.acks_refused),
            "crashed": self.crashed,
            "failed": len(self.failed),
            "killed": len(self.killed_at),
        }

    def nacked_before(self, earlier: _Delivery, later: _Delivery) -> bool:
        """True if ``earlier`` was given back by a nack called before ``later`` returned."""
        returned = self.history[later.index]["return"]
        return any(self.history[i]["call"] <= returned for i in self.nacks.get(earlier.id, ()))

    def holder_killed(self, delivery: _Delivery) -> bool:
        """True if the process that held ``delivery`` was killed after it claimed."""
        killed = self.killed_at.get(delivery.process)
        return killed is not None and killed >= self.history[delivery.index]["call"]


def _check_delivery(f: _Facts) -> tuple[CheckerResult, dict[str, int]]:
    """The verdict, and the counts of lost items and of redeliveries by cause."""
    found: list[Violation] = []
    reasons: Counter[str] = Counter()
    unobserved = 0
    for item, deliveries in f.deliveries.items():
        if item not in f.put_ok and item not in f.put_maybe:
            d = deliveries[0]
            found.append(_violation(f, "unexpected", f"{f.name(d)} returned {show_value(item)}, "
                                    "which was never put", [d.index]))
        unobserved += deliveries[0].attempt - 1
        reasons["killed during claim"] += deliveries[0].attempt - 1
        acked_ids = {f.history[i]["value"]["id"] for i in f.acks_ok.get(item, ())}
        for earlier, later in itertools.pairwise(deliveries):
            if later.attempt == earlier.attempt:
                found.append(_violation(f, "same delivery twice",
                                        f"{f.name(earlier)} and {f.name(later)} both hold "
                                        f"delivery {later.id} of {show_value(item)}",
                                        [earlier.index, later.index]))
                continue
            gap = later.attempt - earlier.attempt - 1
            unobserved += gap
            reasons["killed during claim"] += gap
            if earlier.id in acked_ids:
                found.append(_violation(f, "delivered after ack",
                                        f"{show_value(item)} was acknowledged after "
                                        f"{f.name(earlier)}, yet delivered again by "
                                        f"{f.name(later)}",
                                        [earlier.index, later.index]))
            elif f.nacked_before(earlier, later):
                reasons["nack"] += 1
            elif later.at >= earlier.until:
                reasons["holder killed" if f.holder_killed(earlier) else "lease ended"] += 1
            else:
                found.append(_violation(
                    f, "two live claims",
                    f"{show_value(item)} was held by two live claims at once: {f.name(later)} "
                    f"took it {earlier.until - later.at:.6f} s before the lease of "
                    f"{f.name(earlier)} ended, and it was not given back",
                    [earlier.index, later.index]))
    if unobserved > f.crashed_claims:
        found.append(_violation(f, "unaccounted deliveries",
                                f"attempt numbers show {unobserved} deliveries that no claim "
                                f"returned, but only {f.crashed_claims} claims were killed in "
                                "flight", []))
    for item, acks in f.acks_ok.items():
        if len(acks) > 1:
            found.append(_violation(f, "acked twice", f"{show_value(item)} was acknowledged "
                                    f"{len(acks)} times (operations {acks[:5]})", acks[:5]))
    for index in f.acks_refused:
        value = f.history[index]["value"]
        item, attempt = item_key(value["item"]), _attempt_of(value["id"])
        later = [d for d in f.deliveries.get(item, ()) if d.attempt > attempt]
        if not later and item not in f.dead:
            found.append(_violation(f, "refused ack",
                                    f"ack #{index} of delivery {value['id']} of {show_value(item)} "
                                    "was refused as ended, but the item was never delivered "
                                    "again nor dead-lettered", [index]))
    lost = [k for k in [*f.put_ok, *f.deliveries] if _lost(f, k)]
    for item in dict.fromkeys(lost):
        put = f.put_ok.get(item, f.put_maybe.get(item))
        found.append(_violation(f, "lost", f"{show_value(item)} was put (operation {put}) and "
                                "never acknowledged nor dead-lettered", [] if put is None
                                else [put]))
    counts = {"lost": len(dict.fromkeys(lost)), "redelivered": sum(reasons.values())}
    for reason in ("nack", "holder killed", "killed during claim", "lease ended"):
        counts[f"redelivered_after_{reason.replace(' ', '_')}"] = reasons[reason]
    found.sort(key=lambda v: v.at)
    return CheckerResult("delivery", not found, len(found), found[:KEEP]), counts


def _lost(f: _Facts, item: Any) -> bool:
    return item not in f.acks_ok and item not in f.acks_maybe and item not in f.dead


def _check_errors(f: _Facts) -> CheckerResult:
    found = []
    for index in f.failed:
        op = f.history[index]
        found.append(Violation("error", f"{op['op']} #{index} (process {op['process']}) raised "
                               f"{op.get('error', 'an error')}", [index], op["return"]))
    return CheckerResult("errors", not found, len(found), found[:KEEP])


def _violation(f: _Facts, kind: str, message: str, ops: list[int]) -> Violation:
    ends = [f.history[i]["return"] for i in ops if f.history[i]["return"] is not None]
    return Violation(kind, message, ops, max(ends) if ends else INF)


def _attempt_of(delivery_id: str) -> int:
    return int(str(delivery_id).rpartition(".")[2])
