"""A small journal queue, correct under crashes, storage faults and power loss, and mutants of
it that each break one rule, for the storage checks (``crashpoints`` and ``faults``).

None of this is product code. ``MiniJournal`` is deliberately self-contained (it uses only
``queue_core``'s lock, ``write_atomic`` and errors), so that its mutants keep their defect
whatever becomes of ``queue_core``'s own journal. It has ``put``, ``get``, ``size`` and
``close``; no claims.

Files: ``path`` holds a header line ``mini-journal <generation>`` and one JSON item per line,
appended; ``path + ".head"`` holds ``<generation> <offset> <crc32>``, replaced whole, naming
where the oldest waiting item starts. A head of an older generation than the data file means a
compaction replaced the file but the head was not moved yet: the first line is the head.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import zlib
from pathlib import Path
from typing import Any

from queue_core.atomic import remove_stale_temp_files, write_atomic
from queue_core.errors import CorruptQueueError
from queue_core.locking import FileLock

from .workloads import Opener, filequeue_opener


class MiniJournal:
    """A journal queue that loses nothing to a crash, a failed call or a power loss
    (``fsync=True``); the reference the mutants are compared with."""

    #: Compact once this many bytes were consumed.
    compact_bytes = 200
    #: The defects, all off here; each mutant turns one on.
    ignores_short_writes = False
    head_before_compaction = False
    trusts_unreadable_head = False

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False,
                 format: str | None = None, clock: Any = None) -> None:
        self.path = Path(path)
        self.head_path = self.path.with_name(self.path.name + ".head")
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(self.path.with_name(self.path.name + ".lock"))
        with self._lock.exclusive():
            remove_stale_temp_files(self.path)
            remove_stale_temp_files(self.head_path)
            if not self.path.exists():
                write_atomic(self.path, _header(1), fsync=fsync)
            self._read()

    def put(self, item: Any) -> None:
        """Append ``item``; the queue is unchanged if it raises."""
        line = (json.dumps(item) + "\n").encode()
        with self._lock.exclusive():
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
            try:
                size = os.fstat(fd).st_size
                complete = os.pread(fd, size, 0).rfind(b"\n") + 1
                if complete < size:
                    os.ftruncate(fd, complete)  # a torn line of a crashed put
                try:
                    written = os.write(fd, line)
                    if written != len(line) and not self.ignores_short_writes:
                        raise OSError(errno.ENOSPC, f"short write: {written} of {len(line)} "
                                      "bytes", str(self.path))
                    if self.fsync:
                        os.fsync(fd)
                except BaseException:
                    os.ftruncate(fd, complete)
                    raise
            finally:
                os.close(fd)

    def get(self) -> Any | None:
        """Remove and return the oldest item, or ``None``; the queue is unchanged if it raises."""
        with self._lock.exclusive():
            data, generation, offset = self._read()
            end = data.find(b"\n", offset)
            if end < 0:
                return None
            item = json.loads(data[offset:end])
            consumed = end + 1 - len(_header(generation))
            if consumed < self.compact_bytes:
                self._write_head(generation, end + 1)
            elif self.head_before_compaction:
                self._write_head(generation, end + 1)
                self._compact(data, generation, end + 1, end + 1)
            else:
                self._compact(data, generation, offset, end + 1)
            return item

    def size(self) -> int:
        """The number of items waiting."""
        with self._lock.exclusive():
            data, _, offset = self._read()
            return data.count(b"\n", offset)

    def close(self) -> None:
        """Release the lock's descriptor."""
        self._lock.close()

    def _compact(self, data: bytes, generation: int, start: int, head: int) -> None:
        """Copy the lines from ``start`` to a file of the next generation, then point the head
        at ``head`` (an offset in the old file) in the new one."""
        complete = data.rfind(b"\n") + 1
        new_header = _header(generation + 1)
        write_atomic(self.path, new_header + data[start:complete], fsync=self.fsync)
        self._write_head(generation + 1, len(new_header) + head - start)

    def _read(self) -> tuple[bytes, int, int]:
        """The data file, its generation and where its oldest waiting item starts."""
        data = self.path.read_bytes()
        header, _, _ = data.partition(b"\n")
        magic, _, number = header.partition(b" ")
        if magic != b"mini-journal" or not number.isdigit():
            raise CorruptQueueError(self.path, "its first line is not a mini-journal header")
        generation, header_end = int(number), len(header) + 1
        try:
            raw = self.head_path.read_bytes()
        except FileNotFoundError:
            return data, generation, header_end
        head = _parse_head(raw)
        if head is None:
            if self.trusts_unreadable_head:
                return data, generation, header_end
            raise CorruptQueueError(self.head_path, f"its content {raw[:60]!r} is not a head")
        head_generation, offset = head
        if head_generation != generation:
            return data, generation, header_end
        if not header_end <= offset <= len(data) or data[offset - 1:offset] != b"\n":
            raise CorruptQueueError(self.head_path, f"offset {offset} is not a line start of "
                                    f"{self.path}")
        return data, generation, offset

    def _write_head(self, generation: int, offset: int) -> None:
        text = f"{generation} {offset}"
        record = f"{text:<40} {zlib.crc32(text.encode()):08x}\n".encode()
        if not self.trusts_unreadable_head:
            write_atomic(self.head_path, record, fsync=self.fsync)
            return
        fd = os.open(self.head_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.pwrite(fd, record, 0)
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)


class IgnoresShortWrites(MiniJournal):
    """put() does not check ``os.write``'s count: a short write (a full disk) returns
    normally with a torn line, which the next put cuts off. Caught by ``faults``."""

    ignores_short_writes = True


class HeadBeforeCompaction(MiniJournal):
    """get() moves the head past its item before the compaction it triggers succeeds: when the
    compaction fails, get() raises and the item is gone. Caught by ``faults``."""

    head_before_compaction = True


class TrustsUnreadableHead(MiniJournal):
    """The head is rewritten in place (one slot), and a head it cannot read is taken for a new
    queue's: a write torn by a crash brings every consumed item back. Caught by
    ``crashpoints``."""

    trusts_unreadable_head = True


def _header(generation: int) -> bytes:
    return f"mini-journal {generation}\n".encode()


def _parse_head(raw: bytes) -> tuple[int, int] | None:
    with contextlib.suppress(ValueError):
        generation, offset, checksum = raw.decode("ascii").split()
        if int(checksum, 16) == zlib.crc32(f"{generation} {offset}".encode()):
            return int(generation), int(offset)
    return None


def _opener(cls: type[MiniJournal]) -> Opener:
    return lambda path, *, fsync, format, clock: cls(path, fsync=fsync)


#: The queues ``crashpoints --queue`` and the fault check know, by name.
QUEUES: dict[str, Opener] = {
    "filequeue": filequeue_opener,
    "mini-journal": _opener(MiniJournal),
    "mutant-ignores-short-writes": _opener(IgnoresShortWrites),
    "mutant-head-before-compaction": _opener(HeadBeforeCompaction),
    "mutant-trusts-unreadable-head": _opener(TrustsUnreadableHead),
}
