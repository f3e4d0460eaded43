"""An append-only journal: put and get cost the same whatever the backlog.

Files, beside the never-replaced lock file:

- ``path``: a header line (format, version, generation and the queue's id, a random name
  given at creation), then one line per item: ``<sequence number> <put time> <item JSON>``
  (the put time in seconds since the epoch). A put appends one line in one ``write``; items are
  never rewritten in place.
- ``path + ".head"``: a 32-byte header naming the queue's id, then where the oldest waiting
  item starts, in two fixed-size checksummed slots written alternately, so that a write cut
  short by a crash leaves the previous head readable. It is created whole, by rename.

A get reads the line at the head and moves the head past it. Once the consumed part is large
(and more than half the file), the remaining lines are copied to a new file of the next
generation, which replaces ``path`` by rename; a head that names the previous generation
means the copy was renamed but the head not yet moved, so the head is the first line after
the header. Either way, a process killed at any instant loses or repeats nothing. A
compaction that fails (a full disk) is abandoned: the current generation stays in use.
A line that a crashed or failed put left half-written at the end is ignored, and cut off by
the next put.

A head that names another queue, another generation, a place beyond the data or inside a
line, or that has no readable slot, is refused with ``CorruptQueueError`` and left as it is.
Version 2 journals (no id; slots at the start of the head file) are still read and written.

With ``fsync`` the changes are made durable by group commit (``queue_core.groupcommit``): an
append or a head move is written under the queue's lock and synced by ``commit`` after the
lock is released, sharing the fsync with the other processes' changes. Two rules keep a power
loss from leaving a head that points beyond the durable data: a head move is written only
once the data it moves past is durable (synced first, under the lock, if no sync covered it
yet), and a compaction first makes durable the head it starts from and the data it copies.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any, NamedTuple

from .. import diskio
from ..atomic import fsync_directory, remove_stale_temp_files, write_atomic
from ..errors import CorruptQueueError, StorageError
from ..groupcommit import (
    Key,
    SyncFile,
    close_ticket,
    key_of,
)
from .base import Storage
from .journal_head import (
    HEAD_SUFFIX,
    Head,
    HeadFile,
    header_of,
    pack_head,
    slots_at,
)
from .journal_lines import JournalLines
from .journal_sync import GroupCommitted

MAGIC = "queue-journal"
VERSION = 3
#: Versions this module reads: 2 has no queue id and no head header.
READABLE_VERSIONS = (2, 3)
#: Compact when this many bytes were consumed and they are more than half of the file...
COMPACT_MIN_BYTES = 4 << 20
#: ...or when the queue is empty and this many bytes were consumed.
COMPACT_EMPTY_BYTES = 64 << 10
_FIRST_GENERATION = 1


class _Header(NamedTuple):
    """What the data file's first line says."""

    version: int
    generation: int
    #: The queue's id (version 3), or None (version 2).
    queue_id: str | None
    #: The offset of the first item line.
    end: int


class JournalStorage(GroupCommitted, JournalLines, Storage):
    """Items as lines appended to a journal, consumed by moving a head: O(1) per operation."""

    lock_free_count = True

    def __init__(self, path, *, fsync: bool = False) -> None:
        super().__init__(path, fsync=fsync)
        self.head_path = self.path.with_name(self.path.name + HEAD_SUFFIX)
        self._data_fd: int | None = None
        #: A data file may be in use whose directory entry is not known durable (a
        #: compaction's directory sync failed after its rename): sync the directory before
        #: writing into the file ``_data()`` opens next.
        self._directory_unsynced = False
        self._head = HeadFile(self.head_path, self.path.name, self._corrupt)
        #: (descriptor, file size, sequence number) right after this object's last put.
        self._last_append: tuple[int | None, int, int] = (None, -1, 0)
        self._data_header = _Header(VERSION, 0, None, 0)
        #: The group commit key of the open data file.
        self._data_key_now: Key | None = None
        #: With ``fsync``: the synced marks shared by every process (group commit), the epochs
        #: of (data, head) noted by the last ``take_back``, and each thread's changes waiting for
        #: ``commit``.
        self._sync = SyncFile(self.path) if fsync else None
        self._epochs = (0, 0)
        self._waiting = threading.local()

    # -- the Storage contract -------------------------------------------------------------

    @property
    def queue_id(self) -> str | None:
        return self._data_header.queue_id

    def files(self) -> list[Path]:
        return [self.path, self.head_path]

    def open_read_only(self) -> None:
        """Open the files for reading only, instead of ``initialize``: every reading call
        works, none changes a file (for ``python -m queue_core.inspect``)."""
        self._data_fd = self._open_data(os.O_RDONLY)
        self._head.open_read_only()

    def describe(self) -> dict[str, object]:
        header = self._data_header
        return {"format": "journal", "version": header.version,
                "generation": header.generation, "queue_id": header.queue_id}

    def initialize(self) -> None:
        remove_stale_temp_files(self.path)
        remove_stale_temp_files(self.head_path)
        if not self.path.exists():
            if self.head_path.exists():
                raise self._corrupt(self.head_path, f"it is left from another queue: there is no "
                                    f"{self.path.name} beside it")
            queue_id = secrets.token_hex(8)
            write_atomic(self.path, _header(_FIRST_GENERATION, queue_id), fsync=self.fsync)
        _, size = self._data()  # reads and checks the header
        header = self._data_header
        if not self.head_path.exists():
            if size > header.end or header.generation != _FIRST_GENERATION:
                raise self._corrupt(self.head_path, f"it is missing, but {self.path.name} holds "
                                    "items: which of them were consumed is unknown")
            head = pack_head(Head(0, header.generation, header.end))
            if header.queue_id is not None:
                head = header_of(header.queue_id) + head
            write_atomic(self.head_path, head, fsync=self.fsync)
        head = self._current_head(header, size)  # refuses a head that does not belong
        self._line_at(self._data_fd, head.offset, size)  # ... or that points inside a line
        if self._sync is not None and not self._sync.opened_since_boot():
            self._cut_at_hole(self._data_fd, head.offset, size)
            self._sync.note_boot()
        self.take_back()

    def append_many(self, encoded_items: list[str], put_at: float) -> None:
        fd, size, last_seq = self._tail_position()
        stamp = f"{put_at:.6f}"
        data = "".join(f"{last_seq + n} {stamp} {item}\n"
                       for n, item in enumerate(encoded_items, 1)).encode()
        self._append_lines(fd, size, data, last_seq + len(encoded_items))

    def _tail_position(self) -> tuple[int, int, int]:
        """Where the next line goes: (descriptor, end of the last complete line, its number);
        the half-written line of a crashed put is cut off first."""
        fd, size = self._data()
        if self._last_append[:2] == (fd, size):
            return fd, size, self._last_append[2]  # nobody wrote since our own last put
        complete_end, last_seq = self._tail(fd, size, self._data_header.end)
        if complete_end != size:
            diskio.truncate(fd, complete_end, self.path)
        return fd, complete_end, last_seq

    def _append_lines(self, fd: int, size: int, data: bytes, last_seq: int) -> None:
        """Append ``data`` (whole lines) in one write; with ``fsync`` it waits for ``commit``
        (its ticket is taken first: a failure to take one changes nothing)."""
        ticket = self._data_ticket(fd, size + len(data)) if self.fsync else None
        try:
            diskio.append(fd, data, self.path, size)
            self._last_append = (fd, size + len(data), last_seq)
            if ticket is not None:
                self._sync.publish_written(self._data_key(), size + len(data))
        except BaseException:
            if ticket is not None:
                close_ticket(ticket)
                diskio.cut_back(fd, size)
                self._last_append = (None, -1, 0)
            raise
        if ticket is not None:
            self._wait_for_commit(ticket)

    def pop_many(self, count: int) -> list[Any]:
        fd, size = self._data()
        header = self._data_header
        head = self._current_head(header, size)
        taken, next_offset = self._items_from(fd, head.offset, size, count)  # before the move
        if not taken:  # empty: said only once the head that says so is durable
            return [] if self._empty_is_durable(head) else self.pop_many(count)
        self._move_head(fd, header, head, next_offset, size)
        return [item for item, _ in taken]

    def peek_many(self, count: int) -> list[tuple[Any, float | None]]:
        fd, size = self._data()
        head = self._current_head(self._data_header, size)
        return self._items_from(fd, head.offset, size, count)[0]

    def _move_head(self, fd: int, header: _Header, head: Head, next_offset: int,
                   size: int) -> None:
        """Point the head at ``next_offset``; compact once enough of the file is consumed.
        With ``fsync`` the data it moves past is durable first, and the move waits for
        ``commit`` (a compaction makes it durable at once)."""
        ticket = None
        moved = Head(head.counter + 1, header.generation, next_offset)
        if self.fsync:
            self._commit_now(self._data_ticket(fd, next_offset))
            ticket = self._head_ticket(moved)  # before the move: a failure changes nothing
        try:
            self._write_head(moved)
        except BaseException:
            if ticket is not None:
                close_ticket(ticket)
            raise
        consumed = next_offset - header.end
        compact = (consumed >= COMPACT_MIN_BYTES and consumed * 2 > size) or (
            consumed >= COMPACT_EMPTY_BYTES and next_offset == size)
        if ticket is not None:
            if not compact:
                self._wait_for_commit(ticket)
                return
            self._commit_now(ticket)
        if compact:
            self._compact(fd, moved, size)

    def position(self) -> list[int]:
        _, size = self._data()
        head = self._current_head(self._data_header, size)
        return [head.generation, head.offset]

    def count(self) -> int:
        for _ in range(20):
            before = self._read_head()
            counted = self._count_once(before, strict=False)
            if counted is not None and self._read_head() == before:
                return counted
        return self._count_once(self._read_head(), strict=True) or 0

    def close(self) -> None:
        if self._data_fd is not None:
            os.close(self._data_fd)
            self._directory_unsynced = True  # a compaction may come before the reopening
        self._data_fd = None
        self._head.close()
        for ticket in self._take_waiting():
            close_ticket(ticket)
        if self._sync is not None:
            self._sync.close()

    # -- the pieces ----------------------------------------------------------------------

    def _count_once(self, head: Head | None, *, strict: bool) -> int | None:
        """The items waiting, read without the lock; ``None`` when what was read does not fit
        together (a change came in between), or, if ``strict``, ``CorruptQueueError``."""
        try:
            fd = diskio.open_regular(self.path, os.O_RDONLY, self.files())
        except FileNotFoundError:
            if not self.path.parent.is_dir():
                raise  # the directory is gone: QueueDirectoryError (FileQueue)
            return 0
        try:
            header = self._read_header(fd)
            size = diskio.fstat(fd, self.path).st_size
            try:
                offset = header.end if head is None else self._head_offset(head, header,
                                                                           size).offset
                first, _ = self._line_at(fd, offset, size)
            except CorruptQueueError:
                if strict:
                    raise
                return None
            if first is None:
                return 0
            _, last_seq = self._tail(fd, size, header.end)
            first_seq, _, _ = self._split(first, offset)
            return last_seq - first_seq + 1
        finally:
            os.close(fd)

    def _data(self) -> tuple[int, int]:
        """The data file's descriptor and size, reopened when a compaction replaced the file.

        A replaced file is no longer the one at the path (``diskio.replaced``: an ``fstat``
        and a ``stat``). Its header never changes, so it is read once per file. With
        ``fsync``, the directory is synced before a file found replaced (or reopened) is
        used: the compaction that renamed it in may have failed to sync it, and nothing may
        be written into it before its name is durable.
        """
        if self._data_fd is not None:
            gone, status = diskio.replaced(self._data_fd, self.path)
            if not gone:
                return self._data_fd, status.st_size
            os.close(self._data_fd)
            self._data_fd = None
            self._directory_unsynced = True
        self._last_append = (None, -1, 0)
        if self._directory_unsynced and self.fsync:
            fsync_directory(self.path.parent)
        self._directory_unsynced = False
        try:
            fd = self._data_fd = self._open_data(os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            if not self.path.parent.is_dir():
                raise  # the directory is gone: QueueDirectoryError (FileQueue)
            raise self._corrupt(self.path, "it is missing (removed or moved away while the "
                                "queue was open): which items it held is unknown") from None
        status = diskio.fstat(fd, self.path)
        header = self._data_header
        self._data_key_now = key_of(header.queue_id, header.generation, status.st_ino)
        return fd, status.st_size

    def _open_data(self, flags: int) -> int:
        """A descriptor of the data file, its header read into ``_data_header``."""
        fd = diskio.open_regular(self.path, flags, self.files())
        try:
            self._data_header = self._read_header(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _read_header(self, fd: int) -> _Header:
        raw = diskio.pread(fd, 256, 0, self.path)
        end = raw.find(b"\n")
        problem = None
        if end < 0:
            problem = "it is empty" if not raw else "its first line is not a journal header"
        else:
            try:
                header = json.loads(raw[:end])
                version = header.get("version")
                if header.get("format") != MAGIC:
                    problem = "its first line is not a queue-journal header"
                elif version not in READABLE_VERSIONS:
                    problem = (f"it is queue-journal version {version!r}; this queue reads "
                               f"versions {', '.join(map(str, READABLE_VERSIONS))}")
                else:
                    queue_id = header["queue"] if version >= 3 else None
                    if version >= 3 and not isinstance(queue_id, str):
                        raise TypeError("the queue id is not a string")
                    return _Header(version, int(header["generation"]), queue_id, end + 1)
            except (ValueError, AttributeError, KeyError, TypeError):
                problem = "its first line is not a journal header"
        if raw.lstrip().startswith(b"["):
            problem += " (it looks like a JSON array: open it with format='json-array')"
        raise self._corrupt(self.path, problem)

    def _head_file(self) -> int:
        return self._head.descriptor(self._data_header.queue_id)

    def _slots_at(self) -> int:
        return slots_at(self._data_header.queue_id)

    def _read_head(self) -> Head | None:
        """The newest intact slot of the head file (see ``journal_head``)."""
        return self._head.read(self._data_header.queue_id)

    def _current_head(self, header: _Header, size: int) -> Head:
        head = self._read_head()
        if head is None:
            return Head(0, header.generation, header.end)
        return self._head_offset(head, header, size)

    def _head_offset(self, head: Head, header: _Header, size: int) -> Head:
        """Where ``head`` says the oldest item starts in a file with ``header`` and ``size``."""
        if head.generation == header.generation - 1:
            return Head(head.counter, header.generation, header.end)  # see the module docstring
        if head.generation != header.generation:
            raise self._corrupt(self.head_path, f"it names generation {head.generation}, but "
                                f"{self.path.name} is generation {header.generation}")
        if not header.end <= head.offset <= size:
            where = "beyond the end of" if head.offset > size else "inside the header of"
            raise self._corrupt(self.head_path, f"it points at byte {head.offset}, {where} "
                                f"{self.path.name} ({size} bytes)")
        return head

    def _write_head(self, head: Head) -> None:
        """Write ``head`` (not synced: see ``_move_head``); on failure the previous head stays."""
        self._head.write(head, self._data_header.queue_id)

    def _compact(self, fd: int, head: Head, size: int) -> None:
        """Copy the waiting lines to a file of the next generation and switch to it. A failure
        (a full disk) abandons the copy: the current generation stays in use. With ``fsync``
        it copies only durable lines (syncing them first) and the new head is durable when
        it returns."""
        try:
            remaining = diskio.pread(fd, size - head.offset, head.offset, self.path)
            cut = remaining.rfind(b"\n") + 1  # drop a half-written last line
            data = _header(head.generation + 1, self._data_header.queue_id) + remaining[:cut]
            if self.fsync:
                self._commit_now(self._data_ticket(fd, head.offset + cut))
                self._sync.note_replaced(self._data_key(), head.offset + cut)
            write_atomic(self.path, data, fsync=self.fsync)
            new_head = Head(head.counter + 1, head.generation + 1, len(data) - cut)
            self._write_head(new_head)
            if self.fsync:
                self._commit_now(self._head_ticket(new_head))
        except StorageError:
            # Before the rename: nothing changed. After it: the head names the previous
            # generation, which means "the first line of the new file", where it points.
            return

    def _corrupt(self, path: Path, problem: str) -> CorruptQueueError:
        return CorruptQueueError(path, problem, self.files())


def _header(generation: int, queue_id: str | None) -> bytes:
    fields: dict[str, object] = {"format": MAGIC, "version": VERSION if queue_id else 2,
                                 "generation": generation}
    if queue_id is not None:
        fields["queue"] = queue_id
    return (json.dumps(fields, separators=(",", ":")) + "\n").encode()


