"""FileQueue: a FIFO queue in one directory, shared safely by any number of processes."""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .atomic import remove_stale_temp_files
from .claims import Claim, DeadLetter, Entry, LedgerState, QueueStats
from .errors import ClaimError, InvalidItemError, QueueDirectoryError
from .ledger import Ledger
from .locking import FileLock
from .storage import DEFAULT_FORMAT, FORMATS

LOCK_SUFFIX = ".lock"
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


class FileQueue:
    """A persistent FIFO queue of JSON values kept at ``path``.

    Every operation is atomic and serialised across processes, threads and containers that
    share the directory: it holds an ``flock`` on ``path + ".lock"`` (a file that is never
    replaced) and re-reads the data under it. Changes are single appends or whole-file
    replacements, so a reader or a process killed at any instant never sees or leaves a
    partial queue. With
    ``fsync=True`` a change is on disk before the call returns.

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
        max_attempts: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if format not in FORMATS:
            raise ValueError(
                f"unknown queue format {format!r}; choose one of {', '.join(sorted(FORMATS))}"
            )
        if type(max_attempts) is not int or max_attempts < 1:
            raise ValueError(f"max_attempts must be an integer of 1 or more, not {max_attempts!r}")
        self.path = Path(path)
        self.fsync = fsync
        self.format = format
        self.max_attempts = max_attempts
        self._clock = clock
        _make_directory(self.path.parent)
        self._lock = FileLock(self.path.with_name(self.path.name + LOCK_SUFFIX))
        self._storage = FORMATS[format](self.path, fsync=fsync)
        self._ledger = Ledger(self.path, fsync=fsync)
        self._errors = _DirectoryErrors(self.path.parent)
        self._locked = _Locked(self._lock, self._errors)
        try:
            with self._locked:
                lock_file = os.stat(self._lock.path)
                #: Names this queue whatever path opened it: claims are checked against it.
                self._identity = f"{lock_file.st_dev}:{lock_file.st_ino}"
                self._storage.initialize()
                remove_stale_temp_files(self._ledger.path)
                self._settled_ledger()
        except BaseException:
            self.close()  # nobody can close a queue that failed to open
            raise

    def put(self, item: Any) -> None:
        """Append ``item`` at the tail. Atomic; the queue is unchanged if it raises.

        Raises ``InvalidItemError`` (a ``TypeError``) for ``None`` and for anything
        ``json.dumps`` cannot encode, NaN and infinities included.
        """
        encoded = encode_item(item)
        with self._locked:
            if self._storage.positions_repeat:
                self._settled_ledger()
            self._storage.append(encoded, self._clock())

    def get(self) -> Any | None:
        """Remove and return the oldest item, or return ``None`` when the queue is empty. Atomic.

        Items whose claim ended without an ``ack`` come first, at their place in the queue.
        """
        with self._locked:
            state = self._settled_ledger()
            if state is not None:
                now = self._clock()
                records = _dead_records(state, now, self.max_attempts)
                entry = state.first_ready(now, self.max_attempts)
                if entry is not None:
                    records.append({"op": "remove", "order": entry.order})
                self._ledger.append(*records)
                if entry is not None:
                    return entry.item
            encoded = self._storage.pop()
        return None if encoded is None else json.loads(encoded)

    def size(self) -> int:
        """The number of items waiting (not counting claimed, delayed or dead ones)."""
        if self._storage.lock_free_count and not self._claims_made():
            with self._errors:
                counted = self._storage.count()
            if not self._claims_made():  # no claim moved an item while we counted
                return counted
        with self._locked:
            return self._stats_locked().waiting

    def claim(self, lease: float = 30.0) -> Claim | None:
        """Take the oldest waiting item for ``lease`` seconds, or return ``None`` when there is
        none. Until the lease ends no other claim or get sees the item; then it comes back."""
        _check_seconds("lease", lease, positive=True)
        with self._locked:
            now = self._clock()
            state = self._settled_ledger()
            records = [] if state is None else _dead_records(state, now, self.max_attempts)
            entry = None if state is None else state.first_ready(now, self.max_attempts)
            if entry is not None:
                self._ledger.append(*records, {"op": "claim", "order": entry.order,
                                               "until": now + lease})
                return self._claim_of(entry, now)
            head = self._storage.peek()
            if head is None:
                self._ledger.append(*records)
                return None
            encoded, put_at = head
            if state is None:
                self._lock.raise_flag()  # from now on, every operation reads the ledger
            order = 1 if state is None else state.next_order
            self._ledger.append(*records, {
                "op": "take", "order": order, "item": json.loads(encoded),
                "until": now + lease, "put_at": put_at, "from": self._storage.position()})
            self._storage.pop()
            if self._storage.positions_repeat:
                self._ledger.append({"op": "settled"})
            return self._claim_of(self._ledger.load().entries[order], now)

    def ack(self, claim: Claim) -> None:
        """Confirm that ``claim``'s item is done: it is removed for good.

        Raises ``ClaimError``, changing nothing, if the item was delivered again after this
        claim's lease ended, or was acknowledged, given back or dead-lettered already.
        """
        with self._locked:
            entry = self._held_entry(self._settled_ledger(), claim, "acknowledge")
            self._ledger.append({"op": "remove", "order": entry.order})

    def nack(self, claim: Claim, delay: float = 0.0) -> None:
        """Give ``claim``'s item back at its place in the queue, visible again after ``delay``
        seconds. Raises ``ClaimError`` like ``ack``."""
        _check_seconds("delay", delay, positive=False)
        with self._locked:
            entry = self._held_entry(self._settled_ledger(), claim, "give back")
            self._ledger.append({"op": "nack", "order": entry.order,
                                 "until": self._clock() + delay})

    def extend(self, claim: Claim, lease: float) -> Claim:
        """Hold ``claim``'s item for ``lease`` more seconds from now; the renewed claim.
        Raises ``ClaimError`` like ``ack``."""
        _check_seconds("lease", lease, positive=True)
        with self._locked:
            entry = self._held_entry(self._settled_ledger(), claim, "extend")
            until = self._clock() + lease
            self._ledger.append({"op": "extend", "order": entry.order, "until": until})
        return dataclasses.replace(claim, until=until)

    def dead(self) -> list[DeadLetter]:
        """The items that used up ``max_attempts`` deliveries, oldest death first."""
        with self._locked:
            state = self._settled_ledger()
            if state is None:
                return []
            spent = state.spent(self._clock(), self.max_attempts)  # what a claim would move
            dead = [*state.dead.values(), *(_as_dead(e) for e in spent)]
            return sorted(dead, key=lambda d: (d.died_at, d.order))

    def requeue_dead(self) -> int:
        """Put every dead letter back at its place in the queue with a fresh count of
        attempts; how many were put back."""
        with self._locked:
            state = self._settled_ledger()
            if state is None:
                return 0
            records = _dead_records(state, self._clock(), self.max_attempts)
            orders = [*state.dead, *(r["order"] for r in records)]
            self._ledger.append(*records, *({"op": "requeue", "order": o} for o in orders))
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

    def __enter__(self) -> FileQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FileQueue({str(self.path)!r}, fsync={self.fsync}, format={self.format!r})"

    # -- the ledger, with the lock held --------------------------------------------------

    def _claims_made(self) -> bool:
        with self._errors:
            return self._lock.flag_raised()

    def _settled_ledger(self) -> LedgerState | None:
        """The ledger (``None`` before the first claim), after finishing a move out of the
        storage that a crash cut short."""
        if not self._lock.flag_raised():
            return None
        state = self._ledger.load()
        if state is None or state.pending is None:
            return state
        if self._storage.position() == state.pending:
            self._storage.pop()  # the ledger holds this item already
            if not self._storage.positions_repeat:
                return state  # positions never come back: the mark can stay
        if self._storage.positions_repeat:
            self._ledger.append({"op": "settled"})
        return state

    def _stats_locked(self) -> QueueStats:
        now = self._clock()
        state = self._settled_ledger()
        waiting = self._storage.count()
        head = self._storage.peek()
        put_times = [head[1]] if head is not None else []
        in_flight = delayed = dead = 0
        if state is not None:
            dead = len(state.dead)
            for entry in state.entries.values():
                if not entry.ready(now):
                    in_flight += entry.held
                    delayed += not entry.held
                elif entry.attempts >= self.max_attempts:
                    dead += 1  # a claim would move it to the dead letters
                else:
                    waiting += 1
                    put_times.append(entry.put_at)
        known = [t for t in put_times if t is not None]
        oldest = None if not waiting or len(known) < len(put_times) else now - min(known)
        return QueueStats(waiting, in_flight, delayed, dead, oldest)

    def _claim_of(self, entry: Entry, now: float) -> Claim:
        return Claim(entry.item, entry.order, entry.attempts, now, entry.until, self._identity)

    def _held_entry(self, state: LedgerState | None, claim: Claim, action: str) -> Entry:
        """The ledger entry ``claim`` still holds, or ``ClaimError`` saying why it does not."""
        if claim.source != self._identity:
            raise ClaimError(f"cannot {action} claim {claim.id}: it was made on another queue "
                             f"than {self.path}")
        entry = None if state is None else state.entries.get(claim.order)
        if entry is not None and entry.attempts == claim.attempt and entry.held:
            return entry
        if entry is None:
            dead = state is not None and claim.order in state.dead
            why = ("its item went to the dead letters" if dead else
                   "its item is no longer in the queue (acknowledged already, or taken by get)")
        elif entry.attempts != claim.attempt:
            why = (f"it ended (lease over at {claim.until:.6f}, or given back) and the item "
                   f"was delivered again (attempt {entry.attempts})")
        else:
            why = "its item was given back with nack already"
        raise ClaimError(f"cannot {action} claim {claim.id}: {why}")


def _dead_records(state: LedgerState, now: float, max_attempts: int) -> list[dict[str, Any]]:
    """The records that move the entries which used up their attempts to the dead letters."""
    return [{"op": "dead", "order": e.order} for e in state.spent(now, max_attempts)]


def _as_dead(entry: Entry) -> DeadLetter:
    return DeadLetter(entry.item, entry.order, entry.attempts, entry.put_at, entry.until)


def _check_seconds(name: str, value: float, *, positive: bool) -> None:
    valid = (isinstance(value, int | float) and not isinstance(value, bool)
             and math.isfinite(value) and (value > 0 if positive else value >= 0))
    if not valid:
        bound = "greater than 0" if positive else "0 or more"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, not {value!r}")


def encode_item(item: Any) -> str:
    """The JSON text for ``item``, or ``InvalidItemError`` saying why it cannot be queued."""
    if item is None:
        raise InvalidItemError("None cannot be queued: get() returns None to mean 'empty'")
    try:
        return _ENCODER.encode(item)
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidItemError(
            f"item {item!r:.100} cannot be queued: it is not JSON-serialisable ({error})"
        ) from error


def _make_directory(directory: Path) -> None:
    with _DirectoryErrors(directory):
        directory.mkdir(parents=True, exist_ok=True)


class _Locked:
    """``with``: the queue's exclusive lock, and ``_DirectoryErrors`` inside it, in one step."""

    __slots__ = ("errors", "lock")

    def __init__(self, lock: FileLock, errors: _DirectoryErrors) -> None:
        self.lock = lock
        self.errors = errors

    def __enter__(self) -> None:
        self.lock.acquire(fcntl.LOCK_EX)

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        self.lock.release()
        self.errors.__exit__(kind, error, tb)


class _DirectoryErrors:
    """Turns the ``OSError`` that mean an unusable directory into ``QueueDirectoryError``."""

    __slots__ = ("directory",)

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, _tb: object) -> None:
        if isinstance(error, OSError):
            translated = _directory_problem(error)
            if translated is not None:
                raise QueueDirectoryError(self.directory, translated) from error


def _directory_problem(error: OSError) -> str | None:
    if isinstance(error, PermissionError):
        return f"permission denied ({error})"
    if isinstance(error, FileExistsError):
        return "a file, not a directory, is in the way"
    if isinstance(error, NotADirectoryError):
        return "a part of the path is not a directory"
    if error.errno in (errno.EROFS, errno.ENOSPC, errno.EDQUOT):
        return os.strerror(error.errno)
    return None
