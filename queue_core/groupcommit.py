"""Group commit: the processes that share a durable queue share its fsyncs.

With ``fsync=True`` a change is written under the queue's lock but made durable after the
lock is released, in ``commit``: under a second lock (``flock`` on ``path + ".sync"``) the
process reads how far the file is known to be synced; if another process's fsync already
covered its change it returns at once, else it syncs the file and records how far that sync
reached: every append completed when it began (each append publishes its end, under the
queue's lock, so a sync never counts half of a long append that is still being copied) or
the newest head. One fsync thus makes durable every change that preceded it, from any
process, and every operation still returns only after its own change is durable.

``.sync`` holds one record per synced file (``DATA``, ``HEAD``): which file it describes
(the queue's id, the file's generation and inode), an epoch, the synced mark (a byte offset
for the data file, a head counter for the head file), the failed mark, and what the last
take-backs kept. It is advisory: it is never fsynced, because it is written only after the
sync it describes succeeded, so whatever survives a power loss claims no more than is on
disk. A missing or unreadable record means "nothing known to be synced": it starts over.

Several changes may wait for a sync at once, so a power loss may keep a later one and lose an
earlier one: the data file's unsynced tail may then hold a hole (zeros) before lines of puts
that never returned. The first process to open the queue after the kernel started again
(``.sync`` keeps the boot id) cuts the data file at the line that holds the first zero byte
after what is synced (``JournalStorage``): nothing there had been promised. It also publishes
the end of the appends that are really there, since the end published before the power loss
may name appends it took; and a sync never counts bytes beyond the end of its file.

A failed fsync (``StorageError``: an I/O error, a full disk) makes the durability of every
change since the last good sync unknown, and Linux may report a later fsync as good without
writing them. So a failure is recorded (``failed``), every commit that was waiting on it
raises ``StorageError`` as well, and the next operation under the queue's lock takes all of
those changes back (``take_back``: the data file is cut back to the synced mark, the head moved
back to the synced head) and moves to the next epoch. A take-back keeps what was synced, and
the record remembers what the take-backs of its last ``KEPT_EPOCHS`` epochs kept: a commit
whose epoch is over returns if its change was kept, and raises if it was taken back.
Operations that raised thus left nothing, as without group commit; except where what became of
the change is no longer known (its record was damaged or removed, or it waited through more
take-backs than a record remembers): then the ``StorageError``'s ``outcome_unknown`` is true,
and it says the change may have happened. A head that nobody moved since the change is still
that change's, so it is decided: synced and recorded afresh.

A compaction replaces the data file by a copy of its waiting lines. Before the rename it keeps
the old file's last record (``note_replaced``), with what it copied as synced: a change still
waiting for a sync of the old file is judged by it (copied, so durable once the old file is
synced too; or taken back before the copy). If that record is gone too (another compaction
since), the change's outcome is unknown.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from . import diskio
from .atomic import open_shared
from .errors import StorageError, storage_error
from .syncrecords import (
    CHECKSUM,
    KEPT_EPOCHS,
    RECORD,
    RECORD_SIZE,
    Key,
    Record,
    Ticket,
    close_ticket,
    covered,
    key_of,
    outcome_unknown_error,
    packed,
    taken_back,
    taken_back_error,
    unpacked,
)

__all__ = ["DATA", "HEAD", "KEPT_EPOCHS", "SYNC_SUFFIX", "Key", "Reach", "Record", "SyncFile",
           "Ticket", "boot_id", "close_ticket", "key_of", "taken_back"]

SYNC_SUFFIX = ".sync"
#: The record slots.
DATA, HEAD = 0, 1
#: Where ``.sync`` keeps the boot id of the kernel that last opened the queue, after the slots.
_BOOT_AT = 2 * RECORD_SIZE
_BOOT_ID_SIZE = 36
#: Where the end of the last complete append to the data file is published (its key, the
#: end, a crc32), after the boot id: a sync reaches no further, even while a long append is
#: half copied (the file's size then ends inside it).
_WRITTEN_AT = 3 * RECORD_SIZE
_WRITTEN = struct.Struct("<16sQQQ")
#: Where a compaction keeps the last record of the data file it replaces (``note_replaced``).
_REPLACED_AT = 4 * RECORD_SIZE
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
#: Gathering (see ``SyncFile.commit``): how long a process waits between two looks at whether
#: other processes are still writing, and the longest it gathers in all.
GATHER_STEP_SECONDS = 0.00005
GATHER_MAX_SECONDS = 0.0002
#: The calls of ``diskio`` that read, as a ``StorageError`` names them.
_READS = ("read", "read the status of", "open")
#: ``reach()``: how far a sync that starts now reaches: (mark, state).
Reach = Callable[[], tuple[int, tuple[int, int]]]


class SyncFile:
    """One queue's ``.sync`` file: its records and the lock that guards them.

    As the queue's ``FileLock``: ``flock`` excludes open file descriptions, so threads of one
    process are serialised by a thread lock first, and a forked child opens its own
    descriptor.
    """

    def __init__(self, queue_path: Path) -> None:
        self.path = queue_path.with_name(queue_path.name + SYNC_SUFFIX)
        #: The queue's data file: a new sync file takes its group and permission bits.
        self._like = queue_path
        self._fd: int | None = None
        self._thread_lock = threading.Lock()
        _sync_files.add(self)
        #: Failures that could not be written to the file, by slot.
        self._unrecorded: dict[int, Record] = {}
        #: The last record parsed, by slot: (its bytes, its key, the record).
        self._parsed: dict[int, tuple[bytes, Key, Record]] = {}
        #: A recent change of this process shared a sync with another process's change.
        self._shared_recently = False
        #: The last record this process wrote, by slot.
        self._own: dict[int, Record] = {}

    def close(self) -> None:
        """Release the descriptor; the file stays."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the sync lock (never take the queue's lock while holding it)."""
        with self._thread_lock:
            fd = self._descriptor()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def read(self, slot: int, key: Key) -> Record | None:
        """The record of ``slot`` if it describes ``key``, else ``None``. Call it holding the
        sync lock."""
        raw = self._pread(RECORD.size, slot * RECORD_SIZE)
        return self._parse(slot, raw, key)

    def peek(self, data_key: Key, head_key: Key) -> tuple[Record, Record] | None:
        """The records of ``DATA`` and ``HEAD``, read without the sync lock (a sync in progress
        holds it), if both describe these keys and no failure is pending; else ``None``
        (take the lock and look again). Call it holding the queue's lock."""
        raw = self._pread(2 * RECORD_SIZE, 0)
        data = self._parse(DATA, raw[:RECORD.size], data_key)
        head = self._parse(HEAD, raw[RECORD_SIZE:RECORD_SIZE + RECORD.size], head_key)
        if data is None or head is None or data.failed or head.failed:
            return None
        return data, head

    def _parse(self, slot: int, raw: bytes, key: Key) -> Record | None:
        """The record in ``raw`` if it is whole and describes ``key``; else ``None``."""
        last = self._parsed.get(slot)
        if last is not None and last[0] == raw and last[1] == key:
            record = last[2]
        else:
            record = unpacked(raw)
            if record is None or record.key != key:
                return None
            self._parsed[slot] = (raw, key, record)
        note = self._unrecorded.get(slot)
        if note is None:
            return record
        if note.key == key and note.epoch == record.epoch:
            record = record._replace(failed=max(record.failed, note.failed))
        return record

    def write(self, slot: int, record: Record) -> None:
        """Store ``record`` (not synced: see the module docstring). Call it holding the sync
        lock. ``StorageError`` if it cannot be written."""
        data = packed(record)
        diskio.pwrite(self._descriptor(), data, slot * RECORD_SIZE, self.path)
        self._parsed[slot] = (data, record.key, record)
        self._own[slot] = record
        if not record.failed:
            self._unrecorded.pop(slot, None)

    def publish_written(self, key: Key, end: int) -> None:
        """Publish that the data file ``key`` holds complete appends up to ``end``. Call it
        holding the queue's lock, after each append or cut (the ends it publishes then only
        grow, except by a cut). ``StorageError`` if it cannot be written."""
        fields = _WRITTEN.pack(*key, end)
        diskio.pwrite(self._descriptor(), fields + CHECKSUM.pack(zlib.crc32(fields)),
                      _WRITTEN_AT, self.path)

    def written(self, key: Key) -> int:
        """The end published for the data file ``key`` (0 if none, or half written)."""
        raw = self._pread(_WRITTEN.size + CHECKSUM.size, _WRITTEN_AT)
        if len(raw) != _WRITTEN.size + CHECKSUM.size or (
                CHECKSUM.unpack(raw[-4:])[0] != zlib.crc32(raw[:-4])):
            return 0
        queue_id, generation, inode, end = _WRITTEN.unpack(raw[:-4])
        return end if Key(queue_id, generation, inode) == key else 0

    def opened_since_boot(self) -> bool:
        """True if a process opened the queue since the kernel started (``note_boot``); False
        also when the boot id is unknown. Call it holding the queue's lock."""
        current = boot_id()
        with self.locked():
            return bool(current) and self._pread(_BOOT_ID_SIZE,
                                              _BOOT_AT) == current.ljust(_BOOT_ID_SIZE, b"\0")

    def note_boot(self) -> None:
        """Note that the queue was opened, and repaired, since the kernel started."""
        with self.locked():
            diskio.pwrite(self._descriptor(), boot_id().ljust(_BOOT_ID_SIZE, b"\0"), _BOOT_AT,
                          self.path)

    def begin(self, slot: int, key: Key, reach: Reach, fd: int, path: Path) -> Record:
        """The record of ``slot`` for ``key``; a file without one (or with a damaged one) is
        synced first and gets a fresh record that says so, in an epoch of its own: a change
        still waiting from an earlier epoch may have been taken back before the damage, so
        its outcome is unknown (``covered``). Call it holding the queue's lock and the sync
        lock.
        ``StorageError`` if that sync or the record's write fails."""
        record = self.read(slot, key)
        if record is None:
            mark, state = reach()
            diskio.fsync(fd, path)
            epoch = time.time_ns()
            record = Record(key, epoch, mark, 0, state, kept_from=epoch)
            self.write(slot, record)
        return record

    def follow_replacement(self) -> None:
        """If the sync file was deleted or replaced since this process opened it, let the next
        use open the file now at its path, the one the other processes use."""
        if self._fd is not None and diskio.replaced(self._fd, self.path)[0]:
            self.close()

    def commit(self, ticket: Ticket, reach: Reach) -> None:
        """Return once ``ticket``'s change is durable: at once if a sync already covered it,
        else after syncing its file. ``reach()`` says how far a sync that starts now reaches:
        (mark, state). ``StorageError`` if the sync failed, or if a failed sync (here or in
        another process) covered the change: it is then taken back (see the module
        docstring).

        The waiting is shared: while one process syncs (holding the sync lock), the others
        wait for it together (a shared lock) and most find their change covered when it ends;
        only if not does one of them take the lock and sync. A process whose changes recently
        shared a sync with other processes' changes first gathers (without the lock, so that
        the processes a sync just released can see it): it waits, up to
        ``GATHER_MAX_SECONDS``, while other changes keep coming, so that one sync covers them
        all. A process alone never waits.

        If the sync file cannot be read (a stale handle on a shared file system, an I/O
        error), whether a sync covered the change is not known: this process takes the change
        back at its next operation (unless a sync covered it, which no take-back cuts), and
        the ``StorageError`` names the sync file and says the change may have happened.
        """
        try:
            self._commit(ticket, reach)
        except StorageError as error:
            if error.operation not in _READS:
                raise
            note = self._unrecorded.get(ticket.slot)
            if note is None or (note.key, note.epoch) != (ticket.key, ticket.epoch):
                note = Record(ticket.key, ticket.epoch)
            self._unrecorded[ticket.slot] = note._replace(failed=max(note.failed, ticket.mark))
            raise StorageError(error.path, error.operation, error.errno, error.detail,
                               outcome_unknown=True) from error

    def _commit(self, ticket: Ticket, reach: Reach) -> None:
        """``commit``, reads of the sync file raising as they fail."""
        if self._covered_now(ticket):
            return  # no lock needed
        if self._shared_recently and self._gathered(ticket, reach):
            return
        with self._thread_lock:
            self._commit_locked(ticket, reach)

    def _commit_locked(self, ticket: Ticket, reach: Reach) -> None:
        """``commit`` past its first look, holding the thread lock."""
        fd = self._descriptor()
        waited = False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a sync is running: wait for it beside the other waiters
            fcntl.flock(fd, fcntl.LOCK_SH)
            try:
                if self._covered_by(self.read(ticket.slot, ticket.key), ticket):
                    return
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            fcntl.flock(fd, fcntl.LOCK_EX)
            waited = True
        try:
            self._sync_for(ticket, reach, crowded=waited)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _sync_for(self, ticket: Ticket, reach: Reach, *, crowded: bool) -> None:
        """``commit``'s sync, holding the sync lock; ``crowded``: other processes were waiting
        for a sync too."""
        record = self.read(ticket.slot, ticket.key)
        if record is None:
            if not self._describes_another_file(ticket.slot, ticket.key):
                self._sync_unrecorded(ticket, reach)
                return
            # The file was replaced since the change: a compaction copied and synced it,
            # unless a take-back removed it before the copy (the old file's last record,
            # kept by the compaction, tells). Sync the old file too, in case the
            # replacement does not last.
            if ticket.slot == DATA and not covered(self._replaced(ticket), ticket):
                raise taken_back_error(ticket.path)
            diskio.fsync(ticket.fd, ticket.path)
            return
        if self._covered_by(record, ticket):
            return  # a sync that began after the change covered it
        if record.failed:
            raise taken_back_error(ticket.path)
        if crowded:
            # Let the waiters that the last sync woke write their changes first: this sync
            # then covers them too (no sleep: the yield returns at once when none is ready).
            os.sched_yield()
        mark, state = reach()
        if mark < ticket.mark:
            mark, state = ticket.mark, ticket.state
        try:
            diskio.fsync(ticket.fd, ticket.path)
            # A record that is not written would make a take-back cut this change: it fails
            # instead, and is taken back with the others.
            self.write(ticket.slot, record._replace(synced=mark, state=state))
        except StorageError:
            self._record_failure(ticket.slot, record, mark)
            raise
        self._shared_recently = mark > ticket.mark

    def _sync_unrecorded(self, ticket: Ticket, reach: Reach) -> None:
        """``_sync_for`` when the record of ``ticket``'s file is unreadable (a torn or
        damaged write, a truncated or new ``.sync``): whether a take-back removed the change
        is no longer known, so it is not claimed durable, nor said to be taken back
        (``outcome_unknown``); except for a head that nobody moved since this change (a
        take-back writes a newer head, and none runs while the sync lock is held): it is
        synced and recorded afresh, and the change returns."""
        if ticket.slot != HEAD or reach() != (ticket.mark, ticket.state):
            raise outcome_unknown_error(ticket.path, "the record of this change's sync was "
                                   f"damaged or removed ({self.path.name})")
        try:
            diskio.fsync(ticket.fd, ticket.path)
            epoch = time.time_ns()
            self.write(HEAD, Record(ticket.key, epoch, ticket.mark, 0, ticket.state,
                                    kept_from=epoch))
        except StorageError as error:  # the head stays: the next take-back cannot know it
            raise outcome_unknown_error(ticket.path, error.detail, error.errno) from error

    def _describes_another_file(self, slot: int, key: Key) -> bool:
        """True if ``slot`` holds a whole record of a file other than ``key``."""
        record = unpacked(self._pread(RECORD.size, slot * RECORD_SIZE))
        return record is not None and record.key != key

    def note_replaced(self, key: Key, copied: int) -> None:
        """Before a compaction renames a new data file over the one ``key`` describes: keep
        that file's record, with everything before ``copied`` synced (and copied), so that a
        change still waiting for a sync of the old file can tell "copied" from "taken back
        before the copy". Call it holding the queue's lock, after syncing up to ``copied``.
        ``StorageError`` if it cannot be written (the compaction is then abandoned)."""
        with self.locked():
            record = self.read(DATA, key)
            if record is None:  # damaged: what became of the waiting changes is not known
                epoch = time.time_ns()
                record = Record(key, epoch, kept_from=epoch)
            record = record._replace(synced=copied, failed=0)
            diskio.pwrite(self._descriptor(), packed(record), _REPLACED_AT, self.path)

    def _replaced(self, ticket: Ticket) -> Record:
        """The record ``note_replaced`` kept of ``ticket``'s replaced data file;
        ``StorageError`` (outcome unknown) if it is gone (another compaction since)."""
        record = unpacked(self._pread(RECORD.size, _REPLACED_AT))
        if record is None or record.key != ticket.key:
            raise outcome_unknown_error(ticket.path, "its file was replaced since, and what the "
                                   "compaction copied of it is no longer recorded")
        return record

    def _covered_now(self, ticket: Ticket) -> bool:
        """``_covered`` for the record as it is now, read without the sync lock."""
        raw = self._pread(RECORD.size, ticket.slot * RECORD_SIZE)
        return self._covered_by(self._parse(ticket.slot, raw, ticket.key), ticket)

    def _covered_by(self, record: Record | None, ticket: Ticket) -> bool:
        """``_covered``; when it is, note whether another process's sync covered it."""
        if not covered(record, ticket):
            return False
        if record != self._own.get(ticket.slot):
            self._shared_recently = True
        return True

    def _gathered(self, ticket: Ticket, reach: Reach) -> bool:
        """Wait while other changes keep coming (a step with none ends it) and for at most
        ``GATHER_MAX_SECONDS``; True if a sync covered ``ticket``'s change meanwhile."""
        mark = reach()[0]
        deadline = time.monotonic() + GATHER_MAX_SECONDS
        while time.monotonic() < deadline:
            time.sleep(GATHER_STEP_SECONDS)
            if self._covered_now(ticket):
                return True
            newer = reach()[0]
            if newer == mark:
                return False
            mark = newer
        return False

    def _record_failure(self, slot: int, record: Record, mark: int) -> None:
        """Record that a sync up to ``mark`` failed; if even that write fails, this process
        remembers it (and takes the changes back itself)."""
        failed = record._replace(failed=max(record.failed, mark))
        try:
            self.write(slot, failed)
        except StorageError:
            self._unrecorded[slot] = failed

    def _pread(self, size: int, offset: int) -> bytes:
        """Up to ``size`` bytes of the sync file from ``offset`` (``StorageError`` naming it)."""
        return diskio.pread(self._descriptor(), size, offset, self.path)

    def _descriptor(self) -> int:
        if self._fd is None:
            try:
                self._fd = open_shared(self.path, self._like)
            except OSError as error:
                raise storage_error(self.path, "open", error) from error
        return self._fd


_sync_files: weakref.WeakSet[SyncFile] = weakref.WeakSet()


def _reset_after_fork() -> None:
    # The inherited descriptor shares its open file description (and its flock) with the
    # parent, and the thread lock may be held by a thread that does not exist here.
    for sync_file in list(_sync_files):
        sync_file._thread_lock = threading.Lock()
        if sync_file._fd is not None:
            with contextlib.suppress(OSError):
                os.close(sync_file._fd)
            sync_file._fd = None


os.register_at_fork(after_in_child=_reset_after_fork)


def boot_id() -> bytes:
    """The running kernel's boot id (it changes at every boot), or ``b""`` if unknown."""
    try:
        return BOOT_ID_FILE.read_bytes().strip()[:_BOOT_ID_SIZE]
    except OSError:
        return b""
