"""Claims: what a claim hands out, and the state of the items that claims took.

An item moves from the storage into the claims ledger (``ledger.py``) when it is first claimed
and stays there, with the number of deliveries so far, until it is acknowledged. Every item in
the ledger is older than every item left in the storage, so taking the ready ledger entries
first, by ``order``, keeps the queue's FIFO order across redeliveries.

Moving an item out of the storage changes two files. The ledger records the item first, with
``from``: the storage's position before the removal. If the storage still shows that position
afterwards, the removal did not happen (the claim raised, or a crash cut it short) and the
claim was never handed out: whoever next holds the lock takes the record back (``remove`` and
``settled``) before doing anything else, so the item stays first in line, is never both
waiting and claimed, and is never lost, even when the failed claim could not cut its record
off the log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .storage.base import Storage


@dataclass(frozen=True)
class Claim:
    """One delivery of ``item``, held until ``until`` (queue clock, seconds) unless extended."""

    item: Any
    #: The item's place in the queue's FIFO order; the same on every delivery of the item.
    order: int
    #: 1 for the first delivery, 2 for the first redelivery, ...
    attempt: int
    claimed_at: float
    until: float
    #: The queue that made this claim (its lock file's device and inode).
    source: str = field(repr=False, default="")
    #: The item's deliveries so far, this one included; unlike ``attempt`` it never restarts
    #: (``requeue_dead``), so it tells this delivery from every other one.
    delivery: int = field(repr=False, default=0)

    @property
    def id(self) -> str:
        """Unique per delivery for the life of the queue: ``"<order>.<delivery>"``."""
        return f"{self.order}.{self.delivery or self.attempt}"


@dataclass(frozen=True)
class DeadLetter:
    """An item that was delivered ``attempts`` times without an acknowledgement."""

    item: Any
    order: int
    attempts: int
    put_at: float | None
    died_at: float
    #: Deliveries over the item's whole life (``attempts`` restarts on ``requeue_dead``).
    delivered: int = field(repr=False, default=0, compare=False)


class QueueStats(NamedTuple):
    """What a queue holds at one instant."""

    #: Items a ``get()`` or ``claim()`` could take now.
    waiting: int
    #: Items claimed under a lease that has not ended.
    in_flight: int
    #: Items given back with a ``nack`` delay that has not ended.
    delayed: int
    #: Items in the dead-letter store.
    dead: int
    #: Seconds since the oldest waiting item was put, or ``None`` (empty, or a format that
    #: keeps no put times).
    oldest_waiting_age: float | None


@dataclass
class Entry:
    """An item in the ledger: claimed (``held``) until ``until``, or given back and visible
    from ``until``."""

    order: int
    item: Any
    attempts: int
    held: bool
    until: float
    put_at: float | None
    #: Deliveries over the item's whole life: the claim id's second part.
    delivered: int = 0

    def ready(self, now: float) -> bool:
        """True when a claim or get may take it: its lease or nack delay has ended."""
        return self.until <= now


@dataclass
class LedgerState:
    """Every item taken out of the storage and not yet acknowledged, and the dead letters.

    Changed only by ``apply``, one record at a time, so that replaying the ledger's records
    rebuilds it exactly.
    """

    next_order: int = 1
    #: The storage's position before the removal recorded by the last ``take``, until a
    #: ``settled`` record says that removal is done.
    pending: Any = None
    #: The order of the item that last ``take`` recorded, while ``pending`` is set (``None``
    #: in a ledger written before it was kept).
    pending_order: int | None = None
    #: How many items that removal takes (a ``claim_many`` takes several in one step, with
    #: consecutive orders ending at ``pending_order``).
    pending_count: int = 1
    entries: dict[int, Entry] = field(default_factory=dict)
    dead: dict[int, DeadLetter] = field(default_factory=dict)

    def spent(self, now: float, max_attempts: int) -> list[Entry]:
        """Ready entries that used up their attempts: a claim moves them to the dead letters."""
        spent = [e for e in self.entries.values() if e.attempts >= max_attempts and e.ready(now)]
        return sorted(spent, key=lambda e: (e.until, e.order))

    def ready_entries(self, now: float, max_attempts: int, count: int) -> list[Entry]:
        """The ``count`` oldest entries a claim or get may take now, oldest first."""
        ready = [e for e in self.entries.values() if e.ready(now) and e.attempts < max_attempts]
        return sorted(ready, key=lambda e: e.order)[:count]

    def first_ready(self, now: float, max_attempts: int) -> Entry | None:
        """The oldest entry a claim or get may take now."""
        ready = [e for e in self.entries.values() if e.ready(now) and e.attempts < max_attempts]
        return min(ready, key=lambda e: e.order) if ready else None

    def apply(self, record: dict[str, Any]) -> None:
        """Change the state as ``record`` says; ``KeyError``/``ValueError`` if it cannot."""
        op = record["op"]
        if op == "take":  # a first claim: the item leaves the storage
            order = _count(record["order"])
            self.entries[order] = Entry(order, record["item"], 1, True, _time(record["until"]),
                                        _optional_time(record["put_at"]), 1)
            self.next_order = max(self.next_order, order + 1)
            self.pending, self.pending_order = record["from"], order
            self.pending_count = _count(record.get("batch", 1))
        elif op == "settled":
            self.pending = self.pending_order = None
            self.pending_count = 1
        elif op == "claim":
            entry = self.entries[record["order"]]
            entry.attempts += 1
            entry.delivered += 1
            entry.held, entry.until = True, _time(record["until"])
        elif op == "nack":
            entry = self.entries[record["order"]]
            entry.held, entry.until = False, _time(record["until"])
        elif op == "extend":
            self.entries[record["order"]].until = _time(record["until"])
        elif op == "remove":  # acknowledged, or taken by get
            del self.entries[record["order"]]
        elif op == "dead":
            entry = self.entries.pop(record["order"])
            self.dead[entry.order] = DeadLetter(entry.item, entry.order, entry.attempts,
                                                entry.put_at, entry.until, entry.delivered)
        elif op == "requeue":
            dead = self.dead.pop(record["order"])
            self.entries[dead.order] = Entry(dead.order, dead.item, 0, False, 0.0, dead.put_at,
                                             dead.delivered)
        elif op == "entry":  # the entries, dead letters and counter of a compacted ledger
            attempts = _count(record["attempts"])
            entry = Entry(_count(record["order"]), record["item"], attempts,
                          bool(record["held"]), _time(record["until"]),
                          _optional_time(record["put_at"]),
                          _count(record.get("delivered", attempts)))
            self.entries[entry.order] = entry
        elif op == "dead-letter":
            attempts = _count(record["attempts"])
            dead = DeadLetter(record["item"], _count(record["order"]), attempts,
                              _optional_time(record["put_at"]), _time(record["died_at"]),
                              _count(record.get("delivered", attempts)))
            self.dead[dead.order] = dead
        elif op == "next":
            self.next_order = _count(record["order"])
        elif op == "pending":
            order = record.get("order")
            self.pending = record["from"]
            self.pending_order = None if order is None else _count(order)
            self.pending_count = _count(record.get("batch", 1))
        else:
            raise ValueError(f"unknown record {op!r}")

    def snapshot(self) -> list[dict[str, Any]]:
        """Records that rebuild this state from nothing."""
        records: list[dict[str, Any]] = [{"op": "next", "order": self.next_order}]
        if self.pending is not None:
            records.append({"op": "pending", "from": self.pending, "order": self.pending_order,
                            "batch": self.pending_count})
        records += [{"op": "entry", "order": e.order, "item": e.item, "attempts": e.attempts,
                     "held": e.held, "until": e.until, "put_at": e.put_at,
                     "delivered": e.delivered}
                    for e in self.entries.values()]
        records += [{"op": "dead-letter", "order": d.order, "item": d.item,
                     "attempts": d.attempts, "put_at": d.put_at, "died_at": d.died_at,
                     "delivered": d.delivered}
                    for d in self.dead.values()]
        return records


def _count(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"{value!r} is not a count")
    return value


def _time(value: Any) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ValueError(f"{value!r} is not a time")
    return float(value)


def _optional_time(value: Any) -> float | None:
    return None if value is None else _time(value)


def stats_of(storage: Storage, state: LedgerState | None, now: float,
             max_attempts: int) -> QueueStats:
    """The figures of a queue whose storage is ``storage`` and whose settled ledger state is
    ``state`` (``None``: no claim was ever made), at time ``now``."""
    waiting = storage.count()
    head = storage.peek()
    put_times = [head[1]] if head is not None else []
    in_flight = delayed = dead = 0
    if state is not None:
        dead = len(state.dead)
        for entry in state.entries.values():
            if not entry.ready(now):
                in_flight += entry.held
                delayed += not entry.held
            elif entry.attempts >= max_attempts:
                dead += 1  # a claim would move it to the dead letters
            else:
                waiting += 1
                put_times.append(entry.put_at)
    known = [t for t in put_times if t is not None]
    oldest = None if not waiting or len(known) < len(put_times) else now - min(known)
    return QueueStats(waiting, in_flight, delayed, dead, oldest)


def dead_records(state: LedgerState, now: float, max_attempts: int) -> list[dict[str, Any]]:
    """The records that move the entries which used up their attempts to the dead letters."""
    return [{"op": "dead", "order": e.order} for e in state.spent(now, max_attempts)]


def as_dead_letter(entry: Entry) -> DeadLetter:
    """``entry`` as the dead letter it becomes."""
    return DeadLetter(entry.item, entry.order, entry.attempts, entry.put_at, entry.until)
