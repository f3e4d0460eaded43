"""The claims ledger's file: an append-only log of changes, read incrementally.

``path + ".claims"`` holds a header line, then one JSON record per line (see
``LedgerState.apply``). A change appends its records in one ``write``; each process keeps the
state it has replayed and the offset it has read up to, so reading the ledger costs only what
was appended since. A record that a crashed writer left half-written at the end is ignored and
cut off by the next change; a change whose write fails (a full disk) is cut back and not
applied, so the state and the read position stay as they were. Once the log is long and mostly
history, it is replaced by a snapshot of the current state (a new file, renamed over the old
one); a process notices the replacement because its descriptor's file is no longer the one
at the path (``diskio.replaced``) and replays the new file from the start; a snapshot that cannot be
written is abandoned (the log stays). With ``fsync``, a file renamed in whose directory sync
failed (or that another process's snapshot put in place) is opened only after the directory
is synced: nothing is written into it before its name is durable.
The header names the queue's id (when its storage format keeps one), so that a ledger left
from another queue is refused. Every call is made with the queue's lock held.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from . import diskio
from .atomic import fsync_directory, write_atomic
from .claims import LedgerState
from .errors import CorruptQueueError, StorageError

CLAIMS_SUFFIX = ".claims"
MAGIC = "queue-claims"
VERSION = 1
#: Replace the log by a snapshot once it is this long and holds this many times more records
#: than the snapshot would.
COMPACT_MIN_BYTES = 256 << 10
COMPACT_RATIO = 4
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class Ledger:
    """One queue's claims file, and the state replayed from it."""

    def __init__(self, queue_path: Path, *, fsync: bool = False,
                 read_only: bool = False) -> None:
        self.path = queue_path.with_name(queue_path.name + CLAIMS_SUFFIX)
        #: The queue's data file: a new ledger takes its group and permission bits.
        self._like = queue_path
        self.fsync = fsync
        #: Open the file for reading only (``load`` works, ``append`` fails).
        self.read_only = read_only
        #: The id of the queue this ledger belongs to (``None``: a format without one).
        self.queue_id: str | None = None
        #: The other files of the queue, named in a ``CorruptQueueError``'s advice.
        self.queue_files: list[Path] = []
        self._fd: int | None = None
        self._offset = 0
        #: The file's size at the last ``load``; beyond ``_offset`` lies a torn record.
        self._size = 0
        self._records = 0
        self._state = LedgerState()
        #: The file at the path may not have a durable directory entry (a snapshot's or the
        #: new ledger's directory sync failed after its rename): sync the directory before
        #: opening it, so nothing is written into it before its name is durable.
        self._directory_unsynced = False

    def load(self) -> LedgerState | None:
        """The current state, or ``None`` when no claim was ever made.

        The state is this object's own: read it, and change it only through ``append``.
        ``CorruptQueueError`` if the file cannot be replayed; it is left as it is.
        """
        opened = self._descriptor()
        if opened is None:
            return None
        fd, size = opened
        self._size = size
        if size > self._offset:
            data = diskio.pread(fd, size - self._offset, self._offset, self.path)
            complete = data.rfind(b"\n") + 1
            for line in data[:complete].splitlines():
                self._replay(line)
            self._offset += complete
        return self._state

    def append(self, *records: dict[str, Any], compact: bool = True) -> None:
        """Record ``records`` in one write and apply them to the state. On failure
        (``StorageError``) nothing is recorded or applied. ``compact=False`` keeps the log
        as it is (no snapshot), so that ``undo`` can still take the records back."""
        if not records:
            return
        if self.load() is None:
            self._write_file(self._header())
            self.load()
        fd = self._fd
        if self._size > self._offset:  # the half-written record of a crashed change
            diskio.truncate(fd, self._offset, self.path)
            self._size = self._offset
        data = "".join(_ENCODER.encode(r) + "\n" for r in records).encode()
        diskio.append(fd, data, self.path, self._offset)
        if self.fsync:
            try:
                diskio.fsync(fd, self.path)
            except StorageError:
                diskio.cut_back(fd, self._offset)
                raise
        self._offset += len(data)
        self._size = self._offset
        for record in records:
            self._state.apply(record)
            self._records += 1
        live = len(self._state.entries) + len(self._state.dead) + 2
        if compact and self._offset >= COMPACT_MIN_BYTES and self._records > COMPACT_RATIO * live:
            self._compact()

    def mark(self) -> int:
        """Where the log ends now: ``undo(mark)`` removes what is appended after it. (It
        loads first: after a compaction nothing is loaded, and a mark of 0 would cut the new
        snapshot back to its header, every claim with it.)"""
        self.load()
        return self._offset

    def undo(self, mark: int) -> None:
        """Remove the records appended since ``mark`` (best effort: they are cut off the
        file), and forget the state, so that the next ``load`` replays what is left."""
        mark = max(mark, len(self._header()))  # a ledger created since stays a valid one
        if self._fd is not None and self._offset > mark:
            diskio.cut_back(self._fd, mark)
        self._forget()

    def _compact(self) -> None:
        snapshot = self._state.snapshot()
        data = self._header() + "".join(_ENCODER.encode(r) + "\n" for r in snapshot).encode()
        # On failure the log stays in use (or the snapshot, if only the directory sync failed:
        # it is synced before the snapshot is opened).
        with contextlib.suppress(StorageError):
            self._write_file(data)
        self._forget()

    def _write_file(self, data: bytes) -> None:
        """Replace the file with ``data`` (``write_atomic``); if only its directory sync
        failed, the directory is synced before the new file is opened."""
        try:
            write_atomic(self.path, data, fsync=self.fsync, like=self._like)
        except StorageError as error:
            self._directory_unsynced |= error.replaced
            raise

    def _descriptor(self) -> tuple[int, int] | None:
        """The open log and its size, reopened (and replayed from the start) after a
        compaction; an ``fstat`` and a ``stat`` while nothing was replaced."""
        if self._fd is not None:
            gone, status = diskio.replaced(self._fd, self.path)
            if not gone:
                return self._fd, status.st_size
            self._forget()
            self._directory_unsynced = True  # another process's snapshot replaced the log
        if self._directory_unsynced and self.fsync and not self.read_only:
            fsync_directory(self.path.parent)
        self._directory_unsynced = False
        try:
            mode = os.O_RDONLY if self.read_only else os.O_RDWR | os.O_APPEND
            fd = diskio.open_regular(self.path, mode, [*self.queue_files, self.path])
        except FileNotFoundError:
            return None
        try:
            header = diskio.pread(fd, 256, 0, self.path)
            header = header[:header.find(b"\n") + 1]
            if header != self._header():
                raise CorruptQueueError(self.path, self._header_problem(header),
                                        [*self.queue_files, self.path])
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._offset = fd, len(header)
        return fd, diskio.fstat(fd, self.path).st_size

    def _replay(self, line: bytes) -> None:
        try:
            self._state.apply(json.loads(line))
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
            at = self._offset
            self._forget()
            raise CorruptQueueError(
                self.path, f"a record after byte {at} cannot be applied "
                f"({type(error).__name__}: {error}): {line[:200]!r}",
                [*self.queue_files, self.path]) from error
        self._records += 1

    def _forget(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._offset, self._size, self._records = None, 0, 0, 0
        self._state = LedgerState()

    def close(self) -> None:
        """Release the descriptor; the file stays."""
        self._directory_unsynced |= self._fd is not None  # a snapshot may come meanwhile
        self._forget()

    def _header(self) -> bytes:
        fields: dict[str, Any] = {"format": MAGIC, "version": VERSION}
        if self.queue_id is not None:
            fields["queue"] = self.queue_id
        return (_ENCODER.encode(fields) + "\n").encode()

    def _header_problem(self, header: bytes) -> str:
        try:
            found = json.loads(header)
            if found.get("format") == MAGIC and found.get("version") == VERSION:
                return (f"it belongs to queue {found.get('queue')}, not to queue "
                        f"{self.queue_id} (a file left from another queue)")
        except (ValueError, AttributeError):
            pass
        return f"its first line is not a {MAGIC} version {VERSION} header"
