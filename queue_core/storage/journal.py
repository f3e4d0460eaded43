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

import contextlib
import json
import os
import secrets
import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from .. import diskio
from ..atomic import remove_stale_temp_files, write_atomic
from ..errors import CorruptQueueError, StorageError
from ..groupcommit import (
    DATA,
    HEAD,
    Key,
    Record,
    SyncFile,
    Ticket,
    close_ticket,
    key_of,
    taken_back,
)
from .base import Storage

MAGIC = "queue-journal"
VERSION = 3
#: Versions this module reads: 2 has no queue id and no head header.
READABLE_VERSIONS = (2, 3)
HEAD_SUFFIX = ".head"
_SLOT = struct.Struct("<QQQI")  # counter, generation, offset, crc32 of the first three
SLOT_SIZE = 32
#: The head file's header (version 3): ``queue-head <id>``, padded to one slot.
HEAD_HEADER_SIZE = 32
#: Compact when this many bytes were consumed and they are more than half of the file...
COMPACT_MIN_BYTES = 4 << 20
#: ...or when the queue is empty and this many bytes were consumed.
COMPACT_EMPTY_BYTES = 64 << 10
_TAIL_CHUNK = 512
#: What a batch read first reads per line it wants (more if a line is longer).
_LINE_GUESS = 256
_FIRST_GENERATION = 1


class _Head(NamedTuple):
    counter: int
    generation: int
    offset: int


class _Header(NamedTuple):
    """What the data file's first line says."""

    version: int
    generation: int
    #: The queue's id (version 3), or None (version 2).
    queue_id: str | None
    #: The offset of the first item line.
    end: int


class JournalStorage(Storage):
    """Items as lines appended to a journal, consumed by moving a head: O(1) per operation."""

    lock_free_count = True

    def __init__(self, path, *, fsync: bool = False) -> None:
        super().__init__(path, fsync=fsync)
        self.head_path = self.path.with_name(self.path.name + HEAD_SUFFIX)
        self._data_fd: int | None = None
        #: The head file's bytes as last read, and what they mean.
        #: The head file's bytes last parsed and what they said (None: nothing parsed yet;
        #: not b"", which an emptied head file would match).
        self._head_seen: tuple[bytes | None, _Head | None] = (None, None)
        #: (descriptor, file size, sequence number) right after this object's last put.
        self._last_append: tuple[int | None, int, int] = (None, -1, 0)
        self._data_header = _Header(VERSION, 0, None, 0)
        #: The group commit keys of the open data and head files.
        self._data_key_now: Key | None = None
        self._head_fd: int | None = None
        self._head_key_now: Key | None = None
        #: With ``fsync``: the synced marks shared by every process (group commit), the epochs
        #: of (data, head) noted by the last ``settle``, and each thread's changes waiting for
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
        if not self.head_path.exists():
            raise self._corrupt(self.head_path, "it is missing")
        self._head_fd = os.open(self.head_path, os.O_RDONLY | os.O_CLOEXEC)

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
            head = _pack_head(_Head(0, header.generation, header.end))
            if header.queue_id is not None:
                head = _head_header(header.queue_id) + head
            write_atomic(self.head_path, head, fsync=self.fsync)
        head = self._current_head(header, size)  # refuses a head that does not belong
        self._line_at(self._data_fd, head.offset, size)  # ... or that points inside a line
        if self._sync is not None and not self._sync.opened_since_boot():
            self._cut_at_hole(self._data_fd, head.offset, size)
            self._sync.note_boot()
        self.settle()

    def append(self, encoded_item: str, put_at: float) -> None:
        fd, size, last_seq = self._tail_position()
        self._append_lines(fd, size, f"{last_seq + 1} {put_at:.6f} {encoded_item}\n".encode(),
                           last_seq + 1)

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
        """Append ``data`` (whole lines) in one write; with ``fsync`` it waits for ``commit``."""
        diskio.append(fd, data, self.path, size)
        self._last_append = (fd, size + len(data), last_seq)
        if self.fsync:
            try:
                self._sync.publish_written(self._data_key(), size + len(data))
            except StorageError:
                diskio.cut_back(fd, size)
                self._last_append = (None, -1, 0)
                raise
            self._wait_for_commit(self._data_ticket(fd, size + len(data)))

    def pop_many(self, count: int) -> list[str]:
        fd, size = self._data()
        header = self._data_header
        head = self._current_head(header, size)
        taken, next_offset = self._lines_from(fd, head.offset, size, count)
        if not taken:
            return []
        self._move_head(fd, header, head, next_offset, size)
        return [encoded for _, encoded in taken]

    def peek_many(self, count: int) -> list[tuple[str, float | None]]:
        fd, size = self._data()
        head = self._current_head(self._data_header, size)
        taken, _ = self._lines_from(fd, head.offset, size, count)
        return [(encoded, put_at) for put_at, encoded in taken]

    def _lines_from(self, fd: int, offset: int, size: int,
                    count: int) -> tuple[list[tuple[float, str]], int]:
        """Up to ``count`` complete item lines from ``offset`` as (put time, item JSON), and
        the offset after the last of them."""
        taken: list[tuple[float, str]] = []
        per_line = _LINE_GUESS
        while len(taken) < count and offset < size:
            want = min(size - offset, per_line * (count - len(taken)))
            raw = os.pread(fd, want + 1, offset - 1)  # from the newline before the line
            if raw[:1] != b"\n":
                raise self._corrupt(self.head_path, f"it points at byte {offset} of "
                                    f"{self.path.name}, which is not the start of a line")
            start = 1
            while len(taken) < count:
                end = raw.find(b"\n", start)
                if end < 0:
                    break
                _, put_at, encoded = self._split(raw[start:end], offset)
                taken.append((put_at, encoded))
                offset += end + 1 - start
                start = end + 1
            if start == 1:  # not one whole line in what was read
                if offset + len(raw) - 1 >= size:
                    break  # only a half-written line is left (or the file shrank)
                per_line *= 4
        return taken, offset

    def pop(self) -> str | None:
        fd, size = self._data()
        header = self._data_header
        head = self._current_head(header, size)
        line, next_offset = self._line_at(fd, head.offset, size)
        if line is None:
            return None
        _, _, encoded = self._split(line, head.offset)
        self._move_head(fd, header, head, next_offset, size)
        return encoded

    def _move_head(self, fd: int, header: _Header, head: _Head, next_offset: int,
                   size: int) -> None:
        """Point the head at ``next_offset``; compact once enough of the file is consumed.
        With ``fsync`` the data it moves past is durable first, and the move waits for
        ``commit`` (a compaction makes it durable at once)."""
        if self.fsync:
            self._commit_now(self._data_ticket(fd, next_offset))
        moved = _Head(head.counter + 1, header.generation, next_offset)
        self._write_head(moved)
        consumed = next_offset - header.end
        compact = (consumed >= COMPACT_MIN_BYTES and consumed * 2 > size) or (
            consumed >= COMPACT_EMPTY_BYTES and next_offset == size)
        if self.fsync:
            ticket = self._head_ticket(moved)
            if not compact:
                self._wait_for_commit(ticket)
                return
            self._commit_now(ticket)
        if compact:
            self._compact(fd, moved, size)

    def peek(self) -> tuple[str, float | None] | None:
        fd, size = self._data()
        head = self._current_head(self._data_header, size)
        line, _ = self._line_at(fd, head.offset, size)
        if line is None:
            return None
        _, put_at, encoded = self._split(line, head.offset)
        return encoded, put_at

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
        for fd in (self._data_fd, self._head_fd):
            if fd is not None:
                os.close(fd)
        self._data_fd = self._head_fd = None
        for ticket in self._take_waiting():
            close_ticket(ticket)
        if self._sync is not None:
            self._sync.close()

    # -- group commit (fsync) --------------------------------------------------------------

    def settle(self) -> None:
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
        lines of puts that never returned (see ``groupcommit``)."""
        start = head_offset
        with self._sync.locked():
            record = self._sync.read(DATA, self._data_key())
        if record is not None:
            start = max(start, min(record.synced, size))
        chunk = 1 << 20
        for at in range(start, size, chunk):
            found = os.pread(fd, min(chunk, size - at), at).find(b"\0")
            if found >= 0:
                hole = at + found
                line_start = os.pread(fd, hole - start, start).rfind(b"\n") + 1 + start
                diskio.truncate(fd, line_start, self.path)
                self._last_append = (None, -1, 0)
                self._sync.publish_written(self._data_key(), line_start)
                return

    def _take_back_data(self, fd: int, record: Record, head: _Head) -> Record:
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
        restored = _Head((0 if current is None else current.counter) + 1, *record.state)
        self._write_head(restored)
        diskio.fsync(head_fd, self.head_path)
        record = taken_back(record, synced=restored.counter)
        self._sync.write(HEAD, record)
        return record

    def commit(self) -> None:
        """With ``fsync``: return once the changes this thread made under the lock since its
        last ``commit`` are durable; call it after releasing the lock. ``StorageError`` if a
        sync failed: ``settle`` (under the lock) then takes the changes back."""
        waiting = self._take_waiting()
        try:
            for ticket in waiting:
                self._sync.commit(ticket, self._reach(ticket))
        finally:
            for ticket in waiting:
                close_ticket(ticket)

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
            with contextlib.suppress(StorageError):  # else the next call's settle does it
                self.settle()
            raise
        finally:
            close_ticket(ticket)

    def _data_ticket(self, fd: int, mark: int) -> Ticket:
        """A ticket for the current data file ``fd`` up to byte ``mark``."""
        return Ticket(DATA, self._data_key(), self._epochs[0], mark, os.dup(fd), self.path)

    def _head_ticket(self, head: _Head) -> Ticket:
        return Ticket(HEAD, self._head_key(), self._epochs[1], head.counter,
                      os.dup(self._head_file()), self.head_path, (head.generation, head.offset))

    def _data_key(self) -> Key:
        """The key of the data file ``_data()`` opened last."""
        return self._data_key_now

    def _head_key(self) -> Key:
        self._head_file()
        return self._head_key_now

    def _reach(self, ticket: Ticket) -> Callable[[], tuple[int, tuple[int, int]]]:
        """How far a sync of ``ticket``'s file that starts now reaches: (mark, state)."""
        if ticket.slot == DATA:
            return lambda: (max(self._sync.written(ticket.key), ticket.mark), (0, 0))
        return lambda: _newest_head(ticket.fd, self._slots_at(), ticket)

    # -- the pieces ----------------------------------------------------------------------

    def _count_once(self, head: _Head | None, *, strict: bool) -> int | None:
        """The items waiting, read without the lock; ``None`` when what was read does not fit
        together (a change came in between), or, if ``strict``, ``CorruptQueueError``."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return 0
        try:
            header = self._read_header(fd)
            size = os.fstat(fd).st_size
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

        A replaced file has no name left (``st_nlink == 0``): one ``fstat`` tells. Its header
        never changes, so it is read once per file.
        """
        if self._data_fd is not None:
            status = os.fstat(self._data_fd)
            if status.st_nlink:
                return self._data_fd, status.st_size
            os.close(self._data_fd)
            self._data_fd = None
        self._last_append = (None, -1, 0)
        fd = self._data_fd = self._open_data(os.O_RDWR | os.O_APPEND)
        status = os.fstat(fd)
        header = self._data_header
        self._data_key_now = key_of(header.queue_id, header.generation, status.st_ino)
        return fd, status.st_size

    def _open_data(self, flags: int) -> int:
        """A descriptor of the data file, its header read into ``_data_header``."""
        fd = os.open(self.path, flags | os.O_CLOEXEC)
        try:
            self._data_header = self._read_header(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _read_header(self, fd: int) -> _Header:
        raw = os.pread(fd, 256, 0)
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
        if self._head_fd is None:
            try:
                self._head_fd = os.open(self.head_path, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                raise self._corrupt(self.head_path, "it is missing (removed while the queue "
                                    "was open): which items were consumed is unknown") from None
            self._head_key_now = key_of(self._data_header.queue_id, 0,
                                        os.fstat(self._head_fd).st_ino)
        return self._head_fd

    def _slots_at(self) -> int:
        return 0 if self._data_header.queue_id is None else HEAD_HEADER_SIZE

    def _read_head(self) -> _Head | None:
        """The newest intact slot; ``CorruptQueueError`` if the head file belongs to another
        queue or has no readable slot."""
        base = self._slots_at()
        raw = os.pread(self._head_file(), base + 2 * SLOT_SIZE, 0)
        if raw == self._head_seen[0]:
            return self._head_seen[1]
        queue_id = self._data_header.queue_id
        if queue_id is not None and raw[:base] != _head_header(queue_id):
            found = raw[:base].rstrip(b"\0").decode(errors="replace")
            raise self._corrupt(self.head_path, f"its header {found!r} does not name queue "
                                f"{queue_id} of {self.path.name}: it belongs to another queue")
        first = _parse_slot(raw, base)
        second = _parse_slot(raw, base + SLOT_SIZE)
        head = second if first is None or (
            second is not None and second.counter > first.counter) else first
        if head is None:
            if queue_id is None and not raw:
                return None  # version 2: created empty, and a crash came before its first write
            raise self._corrupt(self.head_path, "neither of its two slots is readable")
        self._head_seen = (raw, head)
        return head

    def _current_head(self, header: _Header, size: int) -> _Head:
        head = self._read_head()
        if head is None:
            return _Head(0, header.generation, header.end)
        return self._head_offset(head, header, size)

    def _head_offset(self, head: _Head, header: _Header, size: int) -> _Head:
        """Where ``head`` says the oldest item starts in a file with ``header`` and ``size``."""
        if head.generation == header.generation - 1:
            return _Head(head.counter, header.generation, header.end)  # see the module docstring
        if head.generation != header.generation:
            raise self._corrupt(self.head_path, f"it names generation {head.generation}, but "
                                f"{self.path.name} is generation {header.generation}")
        if not header.end <= head.offset <= size:
            where = "beyond the end of" if head.offset > size else "inside the header of"
            raise self._corrupt(self.head_path, f"it points at byte {head.offset}, {where} "
                                f"{self.path.name} ({size} bytes)")
        return head

    def _write_head(self, head: _Head) -> None:
        """Write ``head`` into its slot (not synced: see ``_move_head``); on failure the slot
        is cleared (best effort), so the other slot, the previous head, stays the head."""
        record = _pack_slot(head)
        fd = self._head_file()
        at = self._slots_at() + (head.counter % 2) * SLOT_SIZE
        try:
            diskio.pwrite(fd, record, at, self.head_path)
        except StorageError:
            self._head_seen = (None, None)
            with contextlib.suppress(OSError):  # a torn slot fails its checksum anyway
                os.pwrite(fd, bytes(SLOT_SIZE), at)
            raise
        seen = self._head_seen[0]
        if seen is not None and len(seen) == self._slots_at() + 2 * SLOT_SIZE:
            self._head_seen = (seen[:at] + record + seen[at + SLOT_SIZE:], head)

    def _line_at(self, fd: int, offset: int, size: int) -> tuple[bytes | None, int]:
        """The complete line starting at ``offset`` (without its newline) and the next offset;
        ``CorruptQueueError`` if ``offset`` is not at the start of a line."""
        chunk = _TAIL_CHUNK
        while offset < size:
            raw = os.pread(fd, chunk + 1, offset - 1)  # from the newline before the line
            if raw[:1] != b"\n":
                raise self._corrupt(self.head_path, f"it points at byte {offset} of "
                                    f"{self.path.name}, which is not the start of a line")
            end = raw.find(b"\n", 1)
            if end >= 0:
                return raw[1:end], offset + end
            if len(raw) <= chunk or offset + len(raw) - 1 >= size:
                return None, offset  # only a half-written line is left (or the file shrank)
            chunk *= 4
        return None, offset

    def _tail(self, fd: int, size: int, header_end: int) -> tuple[int, int]:
        """(end of the last complete line, its sequence number, or 0 when there is none)."""
        end = size
        chunk = _TAIL_CHUNK
        while True:
            start = max(header_end, end - chunk)
            raw = os.pread(fd, end - start, start)
            last_newline = raw.rfind(b"\n")
            if last_newline < 0:
                if start == header_end:
                    return header_end, 0
                chunk *= 4
                continue
            complete_end = start + last_newline + 1
            previous = raw.rfind(b"\n", 0, last_newline)
            if previous < 0 and start > header_end:
                chunk *= 4
                continue
            line_start = start + previous + 1
            seq, _, _ = self._split(raw[previous + 1:last_newline], line_start)
            return complete_end, seq

    def _split(self, line: bytes, offset: int) -> tuple[int, float, str]:
        """(sequence number, put time, item JSON) of one item line."""
        seq_text, _, rest = line.partition(b" ")
        time_text, sep, encoded = rest.partition(b" ")
        try:
            if not sep:
                raise ValueError("missing a field")
            return int(seq_text), float(time_text), encoded.decode()
        except (ValueError, UnicodeDecodeError) as error:
            raise self._corrupt(
                self.path,
                f"the line at byte {offset} is not '<number> <put time> <JSON>' ({error})",
            ) from error

    def _compact(self, fd: int, head: _Head, size: int) -> None:
        """Copy the waiting lines to a file of the next generation and switch to it. A failure
        (a full disk) abandons the copy: the current generation stays in use. With ``fsync``
        it copies only durable lines (syncing them first) and the new head is durable when
        it returns."""
        remaining = os.pread(fd, size - head.offset, head.offset)
        cut = remaining.rfind(b"\n") + 1  # drop a half-written last line
        data = _header(head.generation + 1, self._data_header.queue_id) + remaining[:cut]
        try:
            if self.fsync:
                self._commit_now(self._data_ticket(fd, head.offset + cut))
            write_atomic(self.path, data, fsync=self.fsync)
            new_head = _Head(head.counter + 1, head.generation + 1, len(data) - cut)
            self._write_head(new_head)
            if self.fsync:
                self._commit_now(self._head_ticket(new_head))
        except StorageError:
            # Before the rename: nothing changed. After it: the head names the previous
            # generation, which means "the first line of the new file", where it points.
            return

    def _corrupt(self, path: Path, problem: str) -> CorruptQueueError:
        return CorruptQueueError(path, problem, self.files())


def _newest_head(fd: int, base: int, ticket: Ticket) -> tuple[int, tuple[int, int]]:
    """The newest head in the head file ``fd`` (slots from ``base``) as (counter, (generation,
    offset)); ``ticket``'s own head if no slot is readable."""
    raw = os.pread(fd, base + 2 * SLOT_SIZE, 0)
    slots = [s for s in (_parse_slot(raw, base), _parse_slot(raw, base + SLOT_SIZE)) if s]
    if not slots:
        return ticket.mark, ticket.state
    newest = max(slots, key=lambda s: s.counter)
    return newest.counter, (newest.generation, newest.offset)


def _header(generation: int, queue_id: str | None) -> bytes:
    fields: dict[str, object] = {"format": MAGIC, "version": VERSION if queue_id else 2,
                                 "generation": generation}
    if queue_id is not None:
        fields["queue"] = queue_id
    return (json.dumps(fields, separators=(",", ":")) + "\n").encode()


def _head_header(queue_id: str) -> bytes:
    return f"queue-head {queue_id}\n".encode().ljust(HEAD_HEADER_SIZE, b"\0")


def _pack_slot(head: _Head) -> bytes:
    values = (head.counter, head.generation, head.offset)
    return _SLOT.pack(*values, zlib.crc32(_SLOT.pack(*values, 0))).ljust(SLOT_SIZE, b"\0")


def _pack_head(head: _Head) -> bytes:
    """Both slots of a new head file: ``head`` in the first, the second empty."""
    return _pack_slot(head) + bytes(SLOT_SIZE)


def _parse_slot(raw: bytes, at: int) -> _Head | None:
    if len(raw) < at + _SLOT.size:
        return None
    counter, generation, offset, checksum = _SLOT.unpack_from(raw, at)
    if checksum != zlib.crc32(_SLOT.pack(counter, generation, offset, 0)) or generation == 0:
        return None
    return _Head(counter, generation, offset)
