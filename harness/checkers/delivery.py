"""The delivery checker of a claim/ack history: does it keep the at-least-once contract?
Pure functions, one per rule.

A history of the ``at-least-once`` workload holds ``put`` operations and, for consumers:

- ``claim``: ``value`` is ``null`` (nothing available) or ``{"item", "id", "attempt", "at",
  "until"}``: the item, the delivery's id, its attempt number, and the lease's start and end
  on the queue's clock (seconds). A queue that cannot know them gives ``attempt`` or
  ``until`` as ``null``: without attempt numbers an item's deliveries are numbered in the
  order of their ``at`` (so no delivery can be shown unaccounted for); without a lease
  the claim holds the item until it is acked or nacked or its holder dies, so a redelivery
  is explained only by a nack or by the holder's death;
- ``ack`` / ``nack``: ``value`` is ``{"item", "id"}`` plus ``"ended": true`` when the queue
  refused it because the claim had ended (a ``ClaimError``, the queue's correct answer to a
  late ack);
- ``dead``: recorded once by the drain, ``value`` is the list of dead-lettered items;
- ``killed``: the harness killed ``process`` at ``call``.

``delivery`` says invalid when an item put is never acknowledged nor dead-lettered although the
drain (``drained``) found nothing left after its put (``lost_items``; without that proof it is
``remaining``, maybe still queued), is acknowledged twice (``acked_twice``), is held by two
live claims at once or delivered again after a successful ack (``redeliveries``), has an ack
refused although it was never delivered again (``refused_acks``), shows more deliveries in its
attempt numbers than claims returned plus claims killed in flight (``unaccounted_deliveries``),
or when a claim returns an item never put (``unexpected_items``). Every redelivery is tied to
its cause in the counts: a nack, a holder killed while holding the item, a claim killed in
flight, or a lease that ended while its holder was still working.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from ..history.format import DRAINED
from .base import (
    INF,
    CheckerResult,
    Clock,
    History,
    Violation,
    item_key,
    show_value,
    verdict,
)

CLAIM_OPS = frozenset({"claim", "ack", "nack"})
#: The causes of a redelivery, as the counts name them (``redelivered_after_<cause>``).
CAUSES = ("nack", "holder killed", "killed during claim", "lease ended")


def is_delivery_history(history: History) -> bool:
    """True when the history comes from the claim/ack workload."""
    return any(map(CLAIM_OPS.__contains__, map(itemgetter("op"), history)))


@dataclass
class Delivery:
    """One claim that returned an item: which delivery of it, by whom, under which lease."""

    index: int
    item: Any
    id: str
    #: None until numbered when the queue gives no attempt numbers (``DeliveryFacts``).
    attempt: int | None
    at: float
    #: INF when the queue has no lease (``until`` recorded as null).
    until: float
    process: Any


class DeliveryFacts:
    """The history indexed by item and by delivery id."""

    def __init__(self, history: History, clock: Clock) -> None:
        self.history, self.clock = history, clock
        self.put_ok: dict[Any, int] = {}
        self.put_maybe: dict[Any, int] = {}
        self.deliveries: dict[Any, list[Delivery]] = {}
        self.crashed_claims = 0
        #: When the claims killed in flight were called (each may have delivered an item).
        self.crashed_claim_calls: list[int] = []
        self.acks_ok: dict[Any, list[int]] = {}
        self.acks_refused: list[int] = []
        #: Nacks the queue refused as ended (as a late ack is).
        self.nacks_refused: list[int] = []
        self.acks_maybe: dict[Any, list[int]] = {}
        self.nacks: dict[str, list[int]] = {}
        self.dead: set[Any] = set()
        self.killed_at: dict[Any, int] = {}
        self.failed: list[int] = []
        self.crashed = 0
        #: When the drain last found nothing left to claim, every lease over (or never).
        self.emptied: float = -INF
        for index, op in enumerate(history):
            self._index(index, op)
        for items in self.deliveries.values():
            if any(d.attempt is None for d in items):
                items.sort(key=lambda d: (d.at, self.history[d.index]["return"]))
                for number, delivery in enumerate(items, 1):
                    delivery.attempt = number
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
            self._index_claim(index, op)
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
        elif name == "nack" and kind == "ok":
            self.nacks_refused.append(index)
        elif name == "dead" and kind == "ok":
            self.dead.update(item_key(item) for item in value)
        elif name == "killed":
            self.killed_at[op["process"]] = op["call"]
        elif name == DRAINED and kind == "ok":
            self.emptied = max(self.emptied, op["call"])

    def _index_claim(self, index: int, op: dict[str, Any]) -> None:
        value = op["value"]
        if op["type"] != "ok":
            self.crashed_claims += 1
            self.crashed_claim_calls.append(op["call"])
        elif value is not None:
            attempt, until = value["attempt"], value["until"]
            delivery = Delivery(index, item_key(value["item"]), str(value["id"]),
                                None if attempt is None else int(attempt), float(value["at"]),
                                INF if until is None else float(until), op["process"])
            self.deliveries.setdefault(delivery.item, []).append(delivery)

    def when(self, ns: float) -> str:
        """A time of the history as seconds since its start."""
        return self.clock.since_start(ns)

    def describe(self, delivery: Delivery) -> str:
        """A delivery as messages name it."""
        op = self.history[delivery.index]
        return (f"claim #{delivery.index} (process {op['process']}, attempt {delivery.attempt},"
                f" returned at {self.when(op['return'])})")

    def counts(self) -> dict[str, int]:
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

    def nacked_before(self, earlier: Delivery, later: Delivery) -> bool:
        """True if ``earlier`` was given back by a nack called before ``later`` returned."""
        returned = self.history[later.index]["return"]
        return any(self.history[i]["call"] <= returned for i in self.nacks.get(earlier.id, ()))

    def holder_killed(self, delivery: Delivery) -> bool:
        """True if the process that held ``delivery`` was killed after it claimed."""
        killed = self.killed_at.get(delivery.process)
        return killed is not None and killed >= self.history[delivery.index]["call"]

    def accounted_for(self, item: Any) -> bool:
        """True if ``item`` was acknowledged (maybe) or dead-lettered."""
        return item in self.acks_ok or item in self.acks_maybe or item in self.dead

    def emptied_after(self, item: Any) -> bool:
        """True if the drain found nothing left after ``item`` was put (or first delivered)."""
        put = self.put_ok.get(item)
        if put is not None:
            since = self.history[put]["return"]
        elif item in self.put_maybe:
            since = self.history[self.put_maybe[item]]["call"]
        else:
            since = self.history[self.deliveries[item][0].index]["call"]
        return since < self.emptied

    def violation(self, kind: str, message: str, ops: list[int]) -> Violation:
        """A violation complete when the last of ``ops`` returned."""
        ends = [self.history[i]["return"] for i in ops if self.history[i]["return"] is not None]
        return Violation(kind, message, ops, max(ends) if ends else INF)


def check_delivery(facts: DeliveryFacts) -> tuple[CheckerResult, dict[str, int]]:
    """The ``delivery`` checker's verdict, and the counts of lost items and of redeliveries
    by cause."""
    redelivered, causes, unobserved = redeliveries(facts)
    lost = lost_items(facts)
    found = [*unexpected_items(facts), *redelivered, *unaccounted_deliveries(facts, unobserved),
             *acked_twice(facts), *refused_acks(facts), *unknown_deliveries(facts),
             *stale_answers(facts), *lost]
    counts = {"lost": len(lost), "remaining": len(remaining(facts)),
              "redelivered": sum(causes.values())}
    for cause in CAUSES:
        counts[f"redelivered_after_{cause.replace(' ', '_')}"] = causes[cause]
    return verdict("delivery", found), counts


def unexpected_items(facts: DeliveryFacts) -> list[Violation]:
    """Claims that returned an item never put."""
    return [
        facts.violation("unexpected", f"{facts.describe(deliveries[0])} returned "
                        f"{show_value(item)}, which was never put", [deliveries[0].index])
        for item, deliveries in facts.deliveries.items()
        if item not in facts.put_ok and item not in facts.put_maybe
    ]


def redeliveries(facts: DeliveryFacts) -> tuple[list[Violation], Counter[str], int]:
    """Each delivery after the first, explained by its cause or reported as a violation:
    (violations, causes, deliveries that no claim returned)."""
    found: list[Violation] = []
    causes: Counter[str] = Counter()
    unobserved = 0
    for item, deliveries in facts.deliveries.items():
        unobserved += deliveries[0].attempt - 1
        causes["killed during claim"] += deliveries[0].attempt - 1
        acked_ids = {facts.history[i]["value"]["id"] for i in facts.acks_ok.get(item, ())}
        for earlier, later in itertools.pairwise(deliveries):
            if later.attempt > earlier.attempt:
                gap = later.attempt - earlier.attempt - 1
                unobserved += gap
                causes["killed during claim"] += gap
            cause = _cause(facts, item, earlier, later, acked_ids)
            if isinstance(cause, Violation):
                found.append(cause)
            else:
                causes[cause] += 1
    return found, causes, unobserved


def _cause(facts: DeliveryFacts, item: Any, earlier: Delivery, later: Delivery,
           acked_ids: set[Any]) -> str | Violation:
    """Why ``later`` delivered ``item`` again after ``earlier``, or the rule it broke."""
    if later.attempt == earlier.attempt or later.id == earlier.id:
        return facts.violation("same delivery twice", f"{facts.describe(earlier)} and "
                               f"{facts.describe(later)} both hold delivery {later.id} of "
                               f"{show_value(item)}", [earlier.index, later.index])
    if earlier.id in acked_ids:
        return facts.violation("delivered after ack", f"{show_value(item)} was acknowledged "
                               f"after {facts.describe(earlier)}, yet delivered again by "
                               f"{facts.describe(later)}", [earlier.index, later.index])
    if facts.nacked_before(earlier, later):
        return "nack"
    if later.at >= earlier.until:
        return "holder killed" if facts.holder_killed(earlier) else "lease ended"
    if earlier.until == INF and facts.holder_killed(earlier) and (
            facts.killed_at[earlier.process] <= facts.history[later.index]["return"]):
        return "holder killed"  # no lease: the queue gave back the item of a dead holder
    if earlier.until == INF:
        return facts.violation(
            "two live claims",
            f"{show_value(item)} was held by two live claims at once: {facts.describe(later)} "
            f"took it while {facts.describe(earlier)} held it (the queue has no lease), and it "
            "was not given back", [earlier.index, later.index])
    return facts.violation(
        "two live claims",
        f"{show_value(item)} was held by two live claims at once: {facts.describe(later)} "
        f"took it {earlier.until - later.at:.6f} s before the lease of "
        f"{facts.describe(earlier)} ended, and it was not given back",
        [earlier.index, later.index])


def unaccounted_deliveries(facts: DeliveryFacts, unobserved: int) -> list[Violation]:
    """More deliveries in the attempt numbers than claims killed in flight can explain."""
    if unobserved <= facts.crashed_claims:
        return []
    return [facts.violation("unaccounted deliveries",
                            f"attempt numbers show {unobserved} deliveries that no claim "
                            f"returned, but only {facts.crashed_claims} claims were killed in "
                            "flight", [])]


def unknown_deliveries(facts: DeliveryFacts) -> list[Violation]:
    """Acks and nacks the queue accepted for a delivery that no claim returned (a claim's
    process acks only what its claim returned, so the queue accepted a delivery it never
    made)."""
    delivered = {d.id for deliveries in facts.deliveries.values() for d in deliveries}
    found = []
    for index in sorted([*itertools.chain.from_iterable(facts.acks_ok.values()),
                         *itertools.chain.from_iterable(facts.nacks.values())]):
        op = facts.history[index]
        if op["type"] == "ok" and str(op["value"]["id"]) not in delivered:
            found.append(facts.violation(
                "unknown delivery", f"{op['op']} #{index} of delivery {op['value']['id']} of "
                f"{show_value(op['value']['item'])} was accepted, but no claim returned that "
                "delivery", [index]))
    return found


def stale_answers(facts: DeliveryFacts) -> list[Violation]:
    """Acks and nacks the queue accepted for a delivery after a later delivery of the item had
    returned (the answer was called after it): the queue let a holder whose claim had ended
    settle an item another consumer now held."""
    by_id = {d.id: d for deliveries in facts.deliveries.values() for d in deliveries}
    found = []
    for index in sorted([*itertools.chain.from_iterable(facts.acks_ok.values()),
                         *itertools.chain.from_iterable(facts.nacks.values())]):
        op = facts.history[index]
        answered = by_id.get(str(op["value"]["id"]))
        if op["type"] != "ok" or answered is None:
            continue
        later = [d for d in facts.deliveries[answered.item] if d.attempt > answered.attempt
                 and facts.history[d.index]["return"] < op["call"]]
        if later:
            found.append(facts.violation(
                "stale answer", f"{op['op']} #{index} of {facts.describe(answered)} was "
                f"accepted, but {show_value(answered.item)} had been delivered again by "
                f"{facts.describe(later[0])}", [answered.index, later[0].index, index]))
    return found


def acked_twice(facts: DeliveryFacts) -> list[Violation]:
    """Items acknowledged more than once."""
    return [
        facts.violation("acked twice", f"{show_value(item)} was acknowledged {len(acks)} "
                        f"times (operations {acks[:5]})", acks[:5])
        for item, acks in facts.acks_ok.items() if len(acks) > 1
    ]


def refused_acks(facts: DeliveryFacts) -> list[Violation]:
    """Acks and nacks refused as ended although the item was not delivered again before the
    refusal returned, nor dead-lettered (and no claim killed in flight, called before the
    refusal returned, may have delivered it)."""
    found = []
    first_crashed_claim = min(facts.crashed_claim_calls, default=INF)
    for index in sorted([*facts.acks_refused, *facts.nacks_refused]):
        value = facts.history[index]["value"]
        item, attempt = item_key(value["item"]), _attempt_of(value["id"])
        returned = facts.history[index]["return"]
        later = [d for d in facts.deliveries.get(item, ()) if d.attempt > attempt
                 and facts.history[d.index]["call"] < returned]
        unseen = first_crashed_claim < returned
        if not later and item not in facts.dead and not unseen:
            found.append(facts.violation(
                "refused ack", f"{facts.history[index]['op']} #{index} of delivery {value['id']} "
                f"of {show_value(item)} "
                "was refused as ended, but the item was never delivered again nor "
                "dead-lettered", [index]))
    return found


def remaining(facts: DeliveryFacts) -> list[Any]:
    """Items never acknowledged nor dead-lettered that nothing shows gone: maybe still queued."""
    return [item for item in dict.fromkeys([*facts.put_ok, *facts.deliveries])
            if not facts.accounted_for(item) and not facts.emptied_after(item)]


def lost_items(facts: DeliveryFacts) -> list[Violation]:
    """Items put (or delivered) that were never acknowledged nor dead-lettered, though the
    drain found nothing left after they were put."""
    found = []
    for item in dict.fromkeys([*facts.put_ok, *facts.deliveries]):
        if not facts.accounted_for(item) and facts.emptied_after(item):
            put = facts.put_ok.get(item, facts.put_maybe.get(item))
            found.append(facts.violation(
                "lost", f"{show_value(item)} was put (operation {put}) and never acknowledged "
                "nor dead-lettered", [] if put is None else [put]))
    return found


def _attempt_of(delivery_id: str) -> int:
    return int(str(delivery_id).rpartition(".")[2])
