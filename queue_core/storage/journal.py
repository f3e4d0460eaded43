"""An append-only journal: put and get cost the same whatever the backlog.

Files, beside the never-replaced lock file:

- ``path``: a header line, then one line per item: ``<sequence number> <put time> <item JSON>``
  (the put time in seconds since the epoch). A put appends one line in one ``write``; items are
  never rewritten in place.
- ``path + ".head"``: where the oldest waiting item starts, in two fixed-size checksummed slots
  written alternately, so that a write cut short by a crash leaves the previous head readable.

A get reads the line at the head and moves the head past it. Once the consumed part is large
(and more than half the file), the remaining lines are copied to a new file of the next
generation, which replaces ``path`` by rename; a head that names an older generation than the
file's header means the copy was renamed but the head not yet moved, so the head is the first
line after the header. Either way, a process killed at any instant loses or repeats nothing.
A line that a crashed put left half-written at the end is ignored, and cut off by the next put.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from typing import NamedTuple

from ..atomic import fsync_directory, remove_stale_temp_files, write_atomic
from ..errors import CorruptQueueError
from .base import Storage

MAGIC = "queue-journal"
VERSION = 2
HEAD_SUFFIX = ".head"
_SLOT = struct.Struct("<QQQI")  # counter, generation, offset, crc32 of the first three
SLOT_SIZE = 32
#: Compact when this many bytes were consumed and they are more than half of the file...
COMPACT_MIN_BYTES = 4 << 20
#: ...or when the queue is empty and this many bytes were consumed.
COMPACT_EMPTY_BYTES = 64 << 10
_TAIL_CHUNK = 512


class _Head(NamedTuple):
    counter: int
    generation: int
    offset: int


class JournalStorage(Storage):
    """Items as lines appended to a journal, consumed by moving a head: O(1) per operation."""

    lock_free_count = True

    def __init__(self, path, *, fsync: bool = False) -> None:
        super().__init__(path, fsync=fsync)
        self.head_path = self.path.with_name(self.path.name + HEAD_SUFFIX)
        self._data_fd: int | None = None
        #: The head file's bytes as last read, and what they mean.
        self._head_seen: tuple[bytes, _Head | None] = (b"", None)
        #: (descriptor, file size, sequence number) right after this object's last put.
        self._last_append: tuple[int | None, int, int] = (None, -1, 0)
        self._data_header: tuple[int, int] = (0, 0)
        self._head_fd: int | None = None

    # -- the Storage contract -------------------------------------------------------------

    def initialize(self) -> None:
        remove_stale_temp_files(self.path)
        if not self.path.exists():
            write_atomic(self.path, _header(1), fsync=self.fsync)
        self._data()  # reads and checks the header
        generation, header_end = self._data_header
        head = self._read_head()
        if head is None:
            self._write_head(_Head(0, generation, header_end))

    def append(self, encoded_item: str, put_at: float) -> None:
        fd, size = self._data()
        if self._last_append[:2] == (fd, size):
            last_seq = self._last_append[2]  # nobody wrote since our own last put
        else:
            complete_end, last_seq = self._tail(fd, size, self._data_header[1])
            if complete_end != size:
                os.ftruncate(fd, complete_end)  # the half-written line of a crashed put
                size = complete_end
        line = f"{last_seq + 1} {put_at:.6f} {encoded_item}\n".encode()
        os.write(fd, line)
        self._last_append = (fd, size + len(line), last_seq + 1)
        if self.fsync:
            os.fsync(fd)

    def pop(self) -> str | None:
        fd, size = self._data()
        generation, header_end = self._data_header
        head = self._current_head(generation, header_end)
        line, next_offset = self._line_at(fd, head.offset, size)
        if line is None:
            return None
        _, _, encoded = self._split(line, head.offset)
        moved = _Head(head.counter + 1, generation, next_offset)
        self._write_head(moved)
        consumed = next_offset - header_end
        if (consumed >= COMPACT_MIN_BYTES and consumed * 2 > size) or (
            consumed >= COMPACT_EMPTY_BYTES and next_offset == size
        ):
            self._compact(fd, moved, size)
        return encoded

    def peek(self) -> tuple[str, float | None] | None:
        fd, size = self._data()
        head = self._current_head(*self._data_header)
        line, _ = self._line_at(fd, head.offset, size)
        if line is None:
            return None
        _, put_at, encoded = self._split(line, head.offset)
        return encoded, put_at

    def position(self) -> list[int]:
        self._data()
        head = self._current_head(*self._data_header)
        return [head.generation, head.offset]

    def count(self) -> int:
        for _ in range(20):
            before = self._read_head()
            counted = self._count_once(before)
            if counted is not None and self._read_head() == before:
                return counted
        return self._count_once(self._read_head()) or 0

    def close(self) -> None:
        for fd in (self._data_fd, self._head_fd):
            if fd is not None:
                os.close(fd)
        self._data_fd = self._head_fd = None

    # -- the pieces ----------------------------------------------------------------------

    def _count_once(self, head: _Head | None) -> int | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return 0
        try:
            generation, header_end = self._read_header(fd)
            offset = header_end
            if head is not None and head.generation == generation:
                offset = head.offset
            size = os.fstat(fd).st_size
            first, _ = self._line_at(fd, offset, size)
            if first is None:
                return 0
            _, last_seq = self._tail(fd, size, header_end)
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
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        self._last_append = (None, -1, 0)
        try:
            self._data_header = self._read_header(fd)
        except BaseException:
            os.close(fd)
            raise
        self._data_fd = fd
        return fd, os.fstat(fd).st_size

    def _read_header(self, fd: int) -> tuple[int, int]:
        """(generation, offset of the first item line)."""
        raw = os.pread(fd, 256, 0)
        end = raw.find(b"\n")
        problem = None
        if end < 0:
            problem = "it is empty" if not raw else "its first line is not a journal header"
        else:
            try:
                header = json.loads(raw[:end])
                if header.get("format") != MAGIC:
                    problem = "its first line is not a queue-journal header"
                elif header.get("version") != VERSION:
                    problem = (f"it is queue-journal version {header.get('version')!r}; "
                               f"this queue reads version {VERSION}")
                else:
                    return int(header["generation"]), end + 1
            except (ValueError, AttributeError, KeyError, TypeError):
                problem = "its first line is not a journal header"
        if raw.lstrip().startswith(b"["):
            problem += " (it looks like a JSON array: open it with format='json-array')"
        raise CorruptQueueError(self.path, problem)

    def _head_file(self) -> int:
        if self._head_fd is None:
            self._head_fd = os.open(self.head_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return self._head_fd

    def _read_head(self) -> _Head | None:
        """The newest intact slot, or None when there is none."""
        raw = os.pread(self._head_file(), 2 * SLOT_SIZE, 0)
        if raw == self._head_seen[0]:
            return self._head_seen[1]
        first = _parse_slot(raw, 0)
        second = _parse_slot(raw, SLOT_SIZE)
        head = second if first is None or (
            second is not None and second.counter > first.counter) else first
        self._head_seen = (raw, head)
        return head

    def _current_head(self, generation: int, header_end: int) -> _Head:
        head = self._read_head()
        if head is None:
            return _Head(0, generation, header_end)
        if head.generation != generation:
            return _Head(head.counter, generation, header_end)  # see the module docstring
        return head

    def _write_head(self, head: _Head) -> None:
        values = (head.counter, head.generation, head.offset)
        record = _SLOT.pack(*values, zlib.crc32(_SLOT.pack(*values, 0))).ljust(SLOT_SIZE, b"\0")
        fd = self._head_file()
        at = (head.counter % 2) * SLOT_SIZE
        os.pwrite(fd, record, at)
        seen = self._head_seen[0]
        if len(seen) == 2 * SLOT_SIZE:
            self._head_seen = (seen[:at] + record + seen[at + SLOT_SIZE:], head)
        if self.fsync:
            os.fsync(fd)

    def _line_at(self, fd: int, offset: int, size: int) -> tuple[bytes | None, int]:
        """The complete line starting at ``offset`` (without its newline) and the next offset."""
        chunk = _TAIL_CHUNK
        while offset < size:
            raw = os.pread(fd, chunk, offset)
            end = raw.find(b"\n")
            if end >= 0:
                return raw[:end], offset + end + 1
            if offset + len(raw) >= size:
                return None, offset  # only a half-written line is left
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
            raise CorruptQueueError(
                self.path,
                f"the line at byte {offset} is not '<number> <put time> <JSON>' ({error})",
            ) from error

    def _compact(self, fd: int, head: _Head, size: int) -> None:
        """Copy the waiting lines to a file of the next generation and switch to it."""
        remaining = os.pread(fd, size - head.offset, head.offset)
        cut = remaining.rfind(b"\n") + 1  # drop a half-written last line
        data = _header(head.generation + 1) + remaining[:cut]
        write_atomic(self.path, data, fsync=self.fsync)
        self._write_head(_Head(head.counter + 1, head.generation + 1, len(data) - cut))
        if self.fsync:
            fsync_directory(self.path.parent)


def _header(generation: int) -> bytes:
    return (json.dumps({"format": MAGIC, "version": VERSION, "generation": generation},
                       separators=(",", ":")) + "\n").encode()


def _parse_slot(raw: bytes, at: int) -> _Head | None:
    if len(raw) < at + _SLOT.size:
        return None
    counter, generation, offset, checksum = _SLOT.unpack_from(raw, at)
    if checksum != zlib.crc32(_SLOT.pack(counter, generation, offset, 0)) or generation == 0:
        return None
    return _Head(counter, generation, offset)
