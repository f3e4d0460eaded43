"""The claims ledger: items handed out with a lease and not yet acknowledged, and dead letters.

It lives in ``path + ".claims"``, one JSON document replaced whole on every change, written
only under the queue's lock. An item moves from the storage into the ledger when it is first
claimed and stays there, with the number of deliveries so far, until it is acknowledged. Every
item in the ledger is older than every item left in the storage, so taking the ready ledger
entries first, by ``order``, keeps the queue's FIFO order across redeliveries.

Moving an item out of the storage changes two files. The ledger is written first, with the
item and ``pending``: the storage's position before the removal. Whoever next holds the lock
finishes a removal that a crash cut short (the storage still shows that position) before doing
anything else, so an item is never both waiting and claimed, and never lost.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .atomic import write_atomic
from .errors import CorruptQueueError

CLAIMS_SUFFIX = ".claims"
MAGIC = "queue-claims"
VERSION = 1


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
    #: The claims file of the queue that made this claim.
    source: str = field(repr=False, default="")

    @property
    def id(self) -> str:
        """Unique per delivery: ``"<order>.<attempt>"``."""
        return f"{self.order}.{self.attempt}"


@dataclass(frozen=True)
class DeadLetter:
    """An item that was delivered ``attempts`` times without an acknowledgement."""

    item: Any
    order: int
    attempts: int
    put_at: float | None
    died_at: float


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

    def ready(self, now: float) -> bool:
        """True when a claim or get may take it: its lease or nack delay has ended."""
        return self.until <= now


@dataclass
class LedgerState:
    """The whole ledger, as read from its file."""

    next_order: int = 1
    pending: Any = None
    entries: dict[int, Entry] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)

    def sweep(self, now: float, max_attempts: int) -> bool:
        """Move every ready entry that used up its attempts to the dead letters, dated when
        its last lease or delay ended; True if any moved."""
        spent = [e for e in self.entries.values()
                 if e.attempts >= max_attempts and e.ready(now)]
        for entry in sorted(spent, key=lambda e: (e.until, e.order)):
            del self.entries[entry.order]
            self.dead.append(DeadLetter(entry.item, entry.order, entry.attempts,
                                        entry.put_at, entry.until))
        return bool(spent)

    def first_ready(self, now: float) -> Entry | None:
        """The oldest entry a claim or get may take now (call ``sweep`` first)."""
        ready = [e for e in self.entries.values() if e.ready(now)]
        return min(ready, key=lambda e: e.order) if ready else None


class Ledger:
    """Reads and writes one queue's claims file. The caller holds the queue's lock."""

    def __init__(self, queue_path: Path, *, fsync: bool = False) -> None:
        self.path = queue_path.with_name(queue_path.name + CLAIMS_SUFFIX)
        self.fsync = fsync

    def exists(self) -> bool:
        """True once any claim was made on this queue (the file is never removed)."""
        return os.path.exists(self.path)

    def load(self) -> LedgerState | None:
        """The ledger, or ``None`` when there is none; ``CorruptQueueError`` if unreadable."""
        if not self.exists():
            return None  # the common case of a queue used without claims, without an exception
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return _decode(json.loads(raw))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise CorruptQueueError(
                self.path, f"it is not a valid claims file ({type(error).__name__}: {error})"
            ) from error

    def save(self, state: LedgerState) -> None:
        """Replace the file with ``state``, atomically."""
        document = {
            "format": MAGIC,
            "version": VERSION,
            "next_order": state.next_order,
            "pending": state.pending,
            "entries": [_entry_fields(e) for e in state.entries.values()],
            "dead": [_dead_fields(d) for d in state.dead],
        }
        data = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
        write_atomic(self.path, data, fsync=self.fsync)


def _entry_fields(entry: Entry) -> dict[str, Any]:
    return {"order": entry.order, "item": entry.item, "attempts": entry.attempts,
            "held": entry.held, "until": entry.until, "put_at": entry.put_at}


def _dead_fields(dead: DeadLetter) -> dict[str, Any]:
    return {"order": dead.order, "item": dead.item, "attempts": dead.attempts,
            "put_at": dead.put_at, "died_at": dead.died_at}


def _decode(document: Any) -> LedgerState:
    if document.get("format") != MAGIC or document.get("version") != VERSION:
        raise ValueError(f"the header is not {MAGIC} version {VERSION}")
    entries = {}
    for raw in document["entries"]:
        entry = Entry(_count(raw["order"]), raw["item"], _count(raw["attempts"]),
                      bool(raw["held"]), _time(raw["until"]), _optional_time(raw["put_at"]))
        entries[entry.order] = entry
    dead = [
        DeadLetter(raw["item"], _count(raw["order"]), _count(raw["attempts"]),
                   _optional_time(raw["put_at"]), _time(raw["died_at"]))
        for raw in document["dead"]
    ]
    return LedgerState(_count(document["next_order"]), document["pending"], entries, dead)


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
