"""FileQueue: a FIFO queue in one directory, shared safely by any number of processes."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .atomic import fsync_directory, remove_stale_temp_files
from .claims import (
    Claim,
    DeadLetter,
    Entry,
    LedgerState,
    QueueStats,
    as_dead_letter,
    dead_records,
    stats_of,
)
from .contracts import DEFAULT_MAX_ATTEMPTS
from .directory import DirectoryErrors, check_name_length, make_directory
from .doorbell import Doorbell
from .errors import (
    ClaimError,
    QueueError,
    StorageError,
)
from .items import check_count, check_seconds, check_timeout, encode_item
from .ledger import CLAIMS_SUFFIX, Ledger
from .locking import FileLock
from .storage import DEFAULT_FORMAT, FORMATS
from .storage.journal_head import HEAD_SUFFIX

LOCK_SUFFIX = ".lock"
#: A batch put rings the doorbell once per item, up to this many times (one per waiter).
_RINGS_MAX = 64


class FileQueue:
    """A persistent FIFO queue of JSON values kept at ``path``.

    Every operation is atomic and serialised across processes, threads and containers that
    share the directory: it holds an ``flock`` on ``path + ".lock"`` (a file that is never
    replaced) and re-reads the data under it. Changes are single appends or whole-file
    replacements, so a reader or a process killed at any instant never sees or leaves a
    partial queue. With ``fsync=True`` a change is on disk before the call returns; processes
    changing the queue at the same time share fsyncs (group commit, see ``groupcommit``). A
    queue is named by its file's real path: symlinks, relative paths and a later ``chdir``
    all reach the same queue.

    A file operation that fails (a full disk, an I/O error, a read-only file system) raises a
    ``StorageError`` (``QueueFullError`` for a full disk) and leaves the queue as it was; the
    same object keeps working once the cause is gone. A file that is damaged or belongs to
    another queue raises ``CorruptQueueError`` and is left as it is.

    Items go through JSON: ``get()`` returns what ``json.loads`` gives back (a tuple comes
    back as a list).

    Two ways to take items: ``get()`` removes the item at once (at most once: a consumer that
    dies before finishing loses it); ``claim()`` hands it out under a lease, and the item
    comes back at its place in the queue unless ``ack()`` confirms it before the lease ends
    (at least once). After ``max_attempts`` deliveries without an ``ack`` an item goes to the
    dead letters. ``clock`` gives the time in seconds for leases and ages; every process that
    shares the queue must use the same clock.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = False,
        format: str = DEFAULT_FORMAT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if format not in FORMATS:
            raise ValueError(
                f"unknown queue format {format!r}; choose one of {', '.join(sorted(FORMATS))}"
            )
        if type(max_attempts) is not int or max_attempts < 1:
            raise ValueError(f"max_attempts must be an integer of 1 or more, not {max_attempts!r}")
        self.path = Path(os.path.realpath(path))
        self.fsync = fsync
        self.format = format
        self.max_attempts = max_attempts
        self._clock = clock
        created = make_directory(self.path.parent)
        check_name_length(self.path, [HEAD_SUFFIX, CLAIMS_SUFFIX, LOCK_SUFFIX])
        self._lock = FileLock(self.path.with_name(self.path.name + LOCK_SUFFIX), like=self.path)
        self._storage = FORMATS[format](self.path, fsync=fsync)
        self._ledger = Ledger(self.path, fsync=fsync)
        self._errors = DirectoryErrors(self.path.parent,
                                        [*self._storage.files(), self._ledger.path])
        self._locked = self._lock.exclusive(self._errors)
        try:
            with self._locked:
                lock_file = os.stat(self._lock.path)
                #: Names this queue whatever path opened it: claims are checked against it.
                self._identity = f"{lock_file.st_dev}:{lock_file.st_ino}"
                self._bell = Doorbell(self._identity, like=self._lock.path,
                                      token=self._lock.token())
                self._storage.initialize()
                self._ledger.queue_id = self._storage.queue_id
                self._ledger.queue_files = self._storage.files()
                remove_stale_temp_files(self._ledger.path)
                remove_stale_temp_files(self._lock.path)
                if not self._lock.flag_raised() and self._ledger.path.exists():
                    self._lock.raise_flag(fsync=fsync)  # the flag was lost (a power loss)
                if fsync:  # the lock file's entry, and the directory's own if it is new
                    fsync_directory(self.path.parent)
                    if created:
                        fsync_directory(self.path.parent.parent)
                self._ledger_state()
        except BaseException:
            self.close()  # nobody can close a queue that failed to open
            raise

    def put(self, item: Any) -> None:
        """Append ``item`` at the tail. Atomic; the queue is unchanged if it raises.

        Raises ``InvalidItemError`` (a ``TypeError``) for ``None``, for anything
        ``json.dumps`` cannot encode (NaN and infinities included), for containers nested
        more than ``items.MAX_DEPTH`` levels deep, and for keys that collide once JSON turns
        them into strings.
        """
        self.put_many((item,))

    def get(self, timeout: float | None = 0.0) -> Any | None:
        """Remove and return the oldest item. Atomic.

        Items whose claim ended without an ``ack`` come first, at their place in the queue.
        When the queue is empty: with ``timeout=0.0`` return ``None`` at once; with
        ``timeout=None`` wait until an item comes; else wait up to ``timeout`` seconds, then
        return ``None``. A waiter sleeps without the lock and wakes when a put rings the
        queue's doorbell, or at the latest after ``doorbell.RECHECK_SECONDS`` (a missed ring),
        or when a claim's lease or a ``nack`` delay ends.
        """
        items = self.get_many(1, timeout)
        return items[0] if items else None

    def put_many(self, items: Iterable[Any]) -> None:
        """Append ``items`` at the tail, in order, as one batch: one lock, one write (and with
        ``fsync`` one fsync). All or nothing: an item that cannot be queued
        (``InvalidItemError``) or a failing disk (``StorageError``) leaves none of them; see
        the README (Batches) for what a crash leaves."""
        encoded = [encode_item(item) for item in items]
        if not encoded:
            return
        with self._locked:
            self._storage.take_back()
            if self._storage.positions_repeat:
                self._ledger_state()
            self._storage.append_many(encoded, self._clock())
        self._bell.ring(min(len(encoded), _RINGS_MAX))
        self._commit()

    def get_many(self, max_items: int, timeout: float | None = 0.0) -> list[Any]:
        """Remove and return up to ``max_items`` of the oldest items as one batch (one lock,
        one write): all of them are removed, or, if it raises, none. Empty when there is none
        after ``timeout`` (as in ``get``; it waits for the first item only).

        A batch comes from one place: items whose claim ended come first, and a batch of them
        holds no item from the storage, so it may be shorter than ``max_items`` while more
        wait.
        """
        check_count(max_items)
        if timeout != 0.0:
            check_timeout(timeout)
        items = self._get_many_now(max_items)
        if not items and timeout != 0.0:
            return self._wait_for(lambda: self._get_many_now(max_items), timeout, many=True)
        return items

    def _get_many_now(self, max_items: int) -> list[Any]:
        with self._locked:
            state = self._ledger_state()
            if state is not None:
                now = self._clock()
                records = dead_records(state, now, self.max_attempts)
                entries = state.ready_entries(now, self.max_attempts, max_items)
                items = [entry.item for entry in entries]
                self._ledger.append(*records, *({"op": "remove", "order": e.order}
                                                for e in entries))
                if items:
                    return items
            items = self._storage.pop_many(max_items)  # decoded before the head moved
        self._commit()
        return items

    def size(self) -> int:
        """The number of items waiting (not counting claimed, delayed or dead ones)."""
        if self._storage.lock_free_count and not self._claims_made():
            with self._errors:
                counted = self._storage.count()
            if not self._claims_made():  # no claim moved an item while we counted
                return counted
        with self._locked:
            return self._stats_locked().waiting

    def claim(self, lease: float = 30.0, timeout: float | None = 0.0) -> Claim | None:
        """Take the oldest waiting item for ``lease`` seconds, or return ``None`` when there is
        none. Until the lease ends no other claim or get sees the item; then it comes back.
        ``timeout`` waits for an item as in ``get``."""
        claims = self.claim_many(1, lease, timeout)
        return claims[0] if claims else None

    def claim_many(self, max_items: int, lease: float = 30.0,
                   timeout: float | None = 0.0) -> list[Claim]:
        """Claim up to ``max_items`` of the oldest waiting items for ``lease`` seconds as one
        batch: all of them are claimed, or, if it raises, none. Empty when there is none after
        ``timeout`` (as in ``get_many``, whose rule on where a batch comes from it shares)."""
        check_count(max_items)
        check_seconds("lease", lease, positive=True)
        if timeout != 0.0:
            check_timeout(timeout)
        claims = self._claim_many_now(max_items, lease)
        if not claims and timeout != 0.0:
            return self._wait_for(lambda: self._claim_many_now(max_items, lease), timeout,
                                  many=True)
        return claims

    def _claim_many_now(self, max_items: int, lease: float) -> list[Claim]:
        with self._locked:
            now = self._clock()
            state = self._ledger_state()
            records = [] if state is None else dead_records(state, now, self.max_attempts)
            entries = ([] if state is None else
                       state.ready_entries(now, self.max_attempts, max_items))
            if entries:
                self._ledger.append(*records, *({"op": "claim", "order": e.order,
                                                 "until": now + lease} for e in entries))
                return [self._claim_of(e, now) for e in entries]
            heads = self._storage.peek_many(max_items)
            if not heads:
                self._ledger.append(*records)
                return []
            if state is None:
                self._lock.raise_flag(fsync=self.fsync)
            first = 1 if state is None else state.next_order
            origin = self._storage.position()
            mark = self._ledger.mark()
            batch = {"batch": len(heads)} if len(heads) > 1 else {}  # one: the default
            self._ledger.append(*records, *(
                {"op": "take", "order": first + n, "item": item,
                 "until": now + lease, "put_at": put_at, "from": origin, **batch}
                for n, (item, put_at) in enumerate(heads)), compact=False)
            try:
                self._storage.pop_many(len(heads))
                self._storage.commit()
            except Exception:
                self._take_back_storage()
                if self._storage_at(origin):  # else the items left: their records stay
                    self._ledger.undo(mark)
                raise
            if self._storage.positions_repeat:
                with contextlib.suppress(StorageError):
                    self._ledger.append({"op": "settled"})
            entries = self._ledger.load().entries
            return [self._claim_of(entries[first + n], now) for n in range(len(heads))]

    def ack_many(self, claims: Iterable[Claim]) -> None:
        """Confirm every claim of ``claims`` as one batch (one write). All or nothing: if one
        of them cannot be acknowledged (``ClaimError``, as ``ack``; the same claim twice
        included) or the disk fails, none is."""
        claims = list(claims)
        with self._locked:
            state = self._ledger_state()
            entries = [self._held_entry(state, claim, "acknowledge") for claim in claims]
            orders = [entry.order for entry in entries]
            if len(set(orders)) != len(orders):
                raise ClaimError("cannot acknowledge the same claim twice in one batch")
            self._ledger.append(*({"op": "remove", "order": order} for order in orders))

    def ack(self, claim: Claim) -> None:
        """Confirm that ``claim``'s item is done: it is removed for good.

        Raises ``ClaimError``, changing nothing, if the item was delivered again after this
        claim's lease ended, or was acknowledged, given back or dead-lettered already.
        """
        self.ack_many((claim,))

    def nack(self, claim: Claim, delay: float = 0.0) -> None:
        """Give ``claim``'s item back at its place in the queue, visible again after ``delay``
        seconds. Raises ``ClaimError`` like ``ack``."""
        check_seconds("delay", delay, positive=False)
        with self._locked:
            entry = self._held_entry(self._ledger_state(), claim, "give back")
            self._ledger.append({"op": "nack", "order": entry.order,
                                 "until": self._clock() + delay})
        self._bell.ring()

    def extend(self, claim: Claim, lease: float) -> Claim:
        """Hold ``claim``'s item for ``lease`` more seconds from now; the renewed claim.
        Raises ``ClaimError`` like ``ack``."""
        check_seconds("lease", lease, positive=True)
        with self._locked:
            entry = self._held_entry(self._ledger_state(), claim, "extend")
            until = self._clock() + lease
            self._ledger.append({"op": "extend", "order": entry.order, "until": until})
        return dataclasses.replace(claim, until=until)

    def dead(self) -> list[DeadLetter]:
        """The items that used up ``max_attempts`` deliveries, oldest death first."""
        with self._locked:
            state = self._ledger_state()
            if state is None:
                return []
            spent = state.spent(self._clock(), self.max_attempts)  # what a claim would move
            dead = [*state.dead.values(), *(as_dead_letter(e) for e in spent)]
            return sorted(dead, key=lambda d: (d.died_at, d.order))

    def requeue_dead(self) -> int:
        """Put every dead letter back at its place in the queue with a fresh count of
        attempts; how many were put back."""
        with self._locked:
            state = self._ledger_state()
            if state is None:
                return 0
            records = dead_records(state, self._clock(), self.max_attempts)
            orders = [*state.dead, *(r["order"] for r in records)]
            self._ledger.append(*records, *({"op": "requeue", "order": o} for o in orders))
        if orders:
            self._bell.ring()
        return len(orders)

    def stats(self) -> QueueStats:
        """Waiting, in-flight, delayed and dead items, and the oldest waiting item's age."""
        with self._locked:
            return self._stats_locked()

    def close(self) -> None:
        """Release this object's descriptors; the queue on disk is untouched."""
        self._lock.close()
        self._ledger.close()
        self._storage.close()
        bell = getattr(self, "_bell", None)  # absent when the queue failed to open
        if bell is not None:
            bell.close()

    def __enter__(self) -> FileQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FileQueue({str(self.path)!r}, fsync={self.fsync}, format={self.format!r})"

    # -- waiting -------------------------------------------------------------------------

    def _wait_for(self, attempt: Callable[[], Any], timeout: float | None, *,
                  many: bool = False) -> Any:
        """Call ``attempt`` until it returns something other than ``None`` (with ``many``: a
        non-empty list), or ``timeout`` seconds pass (``None``: no limit); what it returned
        last. Sleeps on the doorbell in between."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bell = self._bell
        while True:
            rings = bell.drain()  # before looking: a ring from now on wakes the sleep below
            result = attempt()
            if (len(result) > 0) if many else (result is not None):  # 0 and [] are items
                bell.pass_on(rings)  # other puts rang too: wake the other waiters
                return result
            left = math.inf if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return result
            ready_in = self._next_ready_in()
            bell.wait(left if ready_in is None else min(left, ready_in))

    def _next_ready_in(self) -> float | None:
        """Seconds (queue clock) until the first claim's lease or ``nack`` delay ends."""
        with self._locked:
            state = self._ledger_state()
            if state is None:
                return None
            now = self._clock()
            ends = [e.until for e in state.entries.values()
                    if not e.ready(now) and e.attempts < self.max_attempts]
            return max(min(ends) - now, 0.0) if ends else None

    # -- group commit --------------------------------------------------------------------

    def _commit(self) -> None:
        """After the lock is released: return once this thread's change is durable (with
        ``fsync``; shared with other processes' changes, see ``groupcommit``). If its sync
        failed, the change is taken back before the ``StorageError`` is raised."""
        try:
            self._storage.commit()
        except StorageError:
            with self._locked:
                self._take_back_storage()
            raise

    def _storage_at(self, position: object) -> bool:
        """True if the storage's position is known to be ``position`` (the removal of a claim
        that raised did not happen); False if it moved, or cannot be read now (the pending
        record is then resolved by the next operation, see ``_ledger_state``)."""
        try:
            return self._storage.position() == position
        except (OSError, QueueError):
            return False

    def _take_back_storage(self) -> None:
        """With the lock held: take back what a failed sync left, if it can be done now (else
        the next operation does it)."""
        with contextlib.suppress(StorageError):
            self._storage.take_back()

    # -- the ledger, with the lock held --------------------------------------------------

    def _claims_made(self) -> bool:
        with self._errors:
            return self._lock.flag_raised()

    def _ledger_state(self) -> LedgerState | None:
        """The ledger (``None`` before the first claim), after taking back the record of a
        move out of the storage that did not happen (see ``claims``)."""
        self._storage.take_back()
        if not self._lock.flag_raised():
            return None
        state = self._ledger.load()
        if state is None or state.pending is None:
            return state
        if self._storage.position() != state.pending:  # the move happened
            if self._storage.positions_repeat:
                self._ledger.append({"op": "settled"})
            return state  # positions never come back: the mark can stay
        if state.pending_order is None:  # a ledger from before pending_order: finish the move
            self._storage.pop_many(state.pending_count)
            self._storage.commit()
            if self._storage.positions_repeat:
                self._ledger.append({"op": "settled"})
            return state
        # The storage still holds the items: the claim that recorded them raised or never
        # returned, so they stay first in line and their ledger entries go.
        first = state.pending_order - state.pending_count + 1
        self._ledger.append(*({"op": "remove", "order": order}
                              for order in range(first, state.pending_order + 1)),
                            {"op": "settled"})
        return state

    def _stats_locked(self) -> QueueStats:
        state = self._ledger_state()
        return stats_of(self._storage, state, self._clock(), self.max_attempts)

    def _claim_of(self, entry: Entry, now: float) -> Claim:
        return Claim(entry.item, entry.order, entry.attempts, now, entry.until, self._identity,
                     entry.delivered)

    def _held_entry(self, state: LedgerState | None, claim: Claim, action: str) -> Entry:
        """The ledger entry ``claim`` still holds, or ``ClaimError`` saying why it does not."""
        if claim.source != self._identity:
            raise ClaimError(f"cannot {action} claim {claim.id}: it was made on another queue "
                             f"than {self.path}")
        entry = None if state is None else state.entries.get(claim.order)
        if entry is not None and entry.delivered == claim.delivery and entry.held:
            return entry
        if entry is None:
            dead = state is not None and claim.order in state.dead
            why = ("its item went to the dead letters" if dead else
                   "its item is no longer in the queue (acknowledged already, or taken by get)")
        elif entry.delivered != claim.delivery:
            why = (f"it ended (lease over at {claim.until:.6f}, or given back) and the item "
                   f"was delivered again (delivery {entry.delivered})")
        else:
            why = "its item was given back with nack already"
        raise ClaimError(f"cannot {action} claim {claim.id}: {why}")
