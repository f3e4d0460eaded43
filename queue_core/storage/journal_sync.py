"""The journal's side of group commit (``queue_core.groupcommit``): the tickets of its changes,
their commit after the lock, the take-back of what a failed sync covered, and the hole a power
loss leaves in the unsynced tail, cut at the first open after a reboot.

A mixin of ``JournalStorage``: it works on that class's files and state (``_sync``, the data
and head files, ``_epochs``, ``_waiting``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from .. import diskio
from ..errors import StorageError
from ..groupcommit import DATA, HEAD, Key, Record, Ticket, close_ticket, taken_back
from .journal_head import Head, newest_head


class GroupCommitted:
    """Group commit for the journal's data and head files (with ``fsync``)."""

    _sync: Any
    _epochs: tuple[int, int]
    _waiting: Any

    def take_back(self) -> None:
        """With ``fsync``, holding the queue's lock, before any change: take back what a
        failed sync left (the data cut back to its synced end, the head moved back to the
        synced head; see ``groupcommit``), and note the epochs this call's changes belong to.
        ``StorageError`` if that cannot be done (the next call tries again)."""
        if self._sync is None:
            return
        self._sync.follow_replacement()
        fd, size = self._data()
        known = self._sync.peek(self._data_key(), self._head_key())
        if known is not None:  # the common case: no failure pending, no sync lock needed
            self._epochs = (known[0].epoch, known[1].epoch)
            return
        header = self._data_header
        head = self._current_head(header, size)
        head_fd = self._head_file()
        with self._sync.locked():
            data = self._sync.begin(DATA, self._data_key(), lambda: (
                self._tail(fd, size, header.end)[0], (0, 0)), fd, self.path)
            synced_head = self._sync.begin(HEAD, self._head_key(), lambda: (
                head.counter, (head.generation, head.offset)), head_fd, self.head_path)
            if data.failed:
                data = self._take_back_data(fd, data, head)
            if synced_head.failed:
                synced_head = self._take_back_head(head_fd, synced_head)
        self._epochs = (data.epoch, synced_head.epoch)

    def _cut_at_hole(self, fd: int, head_offset: int, size: int) -> None:
        """After a reboot: cut the data file at the line holding the first zero byte after
        the head and after what is recorded as synced: a power loss left a hole there, in
        lines of puts that never returned (see ``groupcommit``). Either way, publish the end
        of the appends that are really there: the end published before the power loss may
        name appends it took (``.sync`` is never synced)."""
        start = head_offset
        with self._sync.locked():
            record = self._sync.read(DATA, self._data_key())
        if record is not None:
            start = max(start, min(record.synced, size))
        chunk = 1 << 20
        for at in range(start, size, chunk):
            found = diskio.pread(fd, min(chunk, size - at), at, self.path).find(b"\0")
            if found >= 0:
                hole = at + found
                line_start = diskio.pread(fd, hole - start, start,
                                          self.path).rfind(b"\n") + 1 + start
                diskio.truncate(fd, line_start, self.path)
                self._last_append = (None, -1, 0)
                self._sync.publish_written(self._data_key(), line_start)
                return
        end, _ = self._tail(fd, size, self._data_header.end)
        self._sync.publish_written(self._data_key(), end)

    def _take_back_data(self, fd: int, record: Record, head: Head) -> Record:
        """Cut the data file back to its synced end (never before the head)."""
        end = max(record.synced, head.offset)
        diskio.truncate(fd, end, self.path)
        self._last_append = (None, -1, 0)
        self._sync.publish_written(self._data_key(), end)
        record = taken_back(record)
        self._sync.write(DATA, record)
        return record

    def _take_back_head(self, head_fd: int, record: Record) -> Record:
        """Move the head back to the synced head, durably."""
        current = self._read_head()
        restored = Head((0 if current is None else current.counter) + 1, *record.state)
        self._write_head(restored)
        diskio.fsync(head_fd, self.head_path)
        record = taken_back(record, synced=restored.counter)
        self._sync.write(HEAD, record)
        return record

    def commit(self) -> None:
        """With ``fsync``: return once the changes this thread made under the lock since its
        last ``commit`` are durable; call it after releasing the lock. ``StorageError`` if a
        sync failed: ``take_back`` (under the lock) then takes the changes back."""
        waiting = self._take_waiting()
        try:
            for ticket in waiting:
                self._sync.commit(ticket, self._reach(ticket))
        finally:
            for ticket in waiting:
                close_ticket(ticket)

    def _empty_is_durable(self, head: Head) -> bool:
        """With ``fsync``, before a get answers "empty" from ``head``: True once that head is
        durable (another process's get may have moved it and still wait for its sync, which
        may fail and be taken back: the items it passed were in the queue all along); False
        if its sync failed and was taken back (look again). ``StorageError`` if even the
        take-back could not be done (the next operation does it)."""
        if self._sync is None:
            return True
        ticket = self._head_ticket(head)  # no descriptor left: raise, and do not look again
        try:
            self._commit_now(ticket)
        except StorageError:
            if self._sync.peek(self._data_key(), self._head_key()) is None:
                raise
            return False
        return True

    def _take_waiting(self) -> list[Ticket]:
        waiting = getattr(self._waiting, "tickets", None) or []
        self._waiting.tickets = []
        return waiting

    def _wait_for_commit(self, ticket: Ticket) -> None:
        tickets = getattr(self._waiting, "tickets", None)
        if tickets is None:
            tickets = self._waiting.tickets = []
        tickets.append(ticket)

    def _commit_now(self, ticket: Ticket) -> None:
        """``commit`` for one ticket, holding the queue's lock: a failed sync is taken back
        before the ``StorageError`` is raised."""
        try:
            self._sync.commit(ticket, self._reach(ticket))
        except StorageError:
            with contextlib.suppress(StorageError):  # else the next call's take_back does it
                self.take_back()
            raise
        finally:
            close_ticket(ticket)

    def _data_ticket(self, fd: int, mark: int) -> Ticket:
        """A ticket for the current data file ``fd`` up to byte ``mark``."""
        return Ticket(DATA, self._data_key(), self._epochs[0], mark, diskio.dup(fd, self.path),
                      self.path)

    def _head_ticket(self, head: Head) -> Ticket:
        return Ticket(HEAD, self._head_key(), self._epochs[1], head.counter,
                      diskio.dup(self._head_file(), self.head_path), self.head_path,
                      (head.generation, head.offset))

    def _data_key(self) -> Key:
        """The key of the data file ``_data()`` opened last."""
        return self._data_key_now

    def _head_key(self) -> Key:
        self._head_file()
        return self._head.key

    def _reach(self, ticket: Ticket) -> Callable[[], tuple[int, tuple[int, int]]]:
        """How far a sync of ``ticket``'s file that starts now reaches: (mark, state)."""
        if ticket.slot == DATA:  # never beyond the file: a published end is not synced
            return lambda: (max(min(self._sync.written(ticket.key),
                                    diskio.fstat(ticket.fd, ticket.path).st_size),
                                ticket.mark), (0, 0))
        return lambda: newest_head(ticket.fd, self._slots_at(), ticket)
