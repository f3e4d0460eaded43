"""The journal's head file: where the oldest waiting item starts.

``path + ".head"``: a 32-byte header naming the queue's id (version 3; version 2 has none), then
two fixed-size slots ``<counter> <generation> <offset> <crc32>``, written alternately, so that a
write cut short by a crash leaves the previous head readable: the intact slot with the higher
counter is the head. The file is created whole, by rename, and never replaced.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from .. import diskio
from ..errors import CorruptQueueError, StorageError
from ..groupcommit import Key, Ticket, key_of

HEAD_SUFFIX = ".head"
_SLOT = struct.Struct("<QQQI")  # counter, generation, offset, crc32 of the first three
SLOT_SIZE = 32
#: The head file's header (version 3): ``queue-head <id>``, padded to one slot.
HEAD_HEADER_SIZE = 32


class Head(NamedTuple):
    """One slot: how many heads were written before it, the data file's generation, and the
    offset of the oldest waiting item's line."""

    counter: int
    generation: int
    offset: int


class HeadFile:
    """The head file of one queue, opened once and read through a cache of its last bytes."""

    def __init__(self, path: Path, data_name: str,
                 corrupt: Callable[[Path, str], CorruptQueueError]) -> None:
        self.path = path
        #: The data file's name, which messages give.
        self.data_name = data_name
        self._corrupt = corrupt
        self.fd: int | None = None
        #: The group commit key of the open file.
        self.key: Key | None = None
        #: The bytes last parsed and what they said (None: nothing parsed yet; not b"", which
        #: an emptied head file would match).
        self._seen: tuple[bytes | None, Head | None] = (None, None)

    def open_read_only(self) -> None:
        """Open for reading only (``queue-inspect``); ``CorruptQueueError`` if missing."""
        try:
            self.fd = diskio.open_regular(self.path, os.O_RDONLY)
        except FileNotFoundError:
            raise self._corrupt(self.path, "it is missing") from None

    def descriptor(self, queue_id: str | None) -> int:
        """The open file (opened now if it is not), for the queue ``queue_id``."""
        if self.fd is None:
            try:
                self.fd = diskio.open_regular(self.path, os.O_RDWR)
            except FileNotFoundError:
                raise self._corrupt(self.path, "it is missing (removed while the queue was "
                                    "open): which items were consumed is unknown") from None
            self.key = key_of(queue_id, 0, diskio.fstat(self.fd, self.path).st_ino)
        return self.fd

    def read(self, queue_id: str | None) -> Head | None:
        """The newest intact slot; ``CorruptQueueError`` if the file belongs to another queue
        or has no readable slot. ``None`` only for a version 2 file a crash left empty."""
        base = slots_at(queue_id)
        raw = diskio.pread(self.descriptor(queue_id), base + 2 * SLOT_SIZE, 0, self.path)
        if raw == self._seen[0]:
            return self._seen[1]
        if queue_id is not None and raw[:base] != header_of(queue_id):
            found = raw[:base].rstrip(b"\0").decode(errors="replace")
            raise self._corrupt(self.path, f"its header {found!r} does not name queue "
                                f"{queue_id} of {self.data_name}: it belongs to another queue")
        first = parse_slot(raw, base)
        second = parse_slot(raw, base + SLOT_SIZE)
        head = second if first is None or (
            second is not None and second.counter > first.counter) else first
        if head is None:
            if queue_id is None and not raw:
                return None  # version 2: created empty, and a crash came before its first write
            raise self._corrupt(self.path, "neither of its two slots is readable")
        self._seen = (raw, head)
        return head

    def write(self, head: Head, queue_id: str | None) -> None:
        """Write ``head`` into its slot (not synced); on failure the slot is cleared (best
        effort), so the other slot, the previous head, stays the head."""
        record = pack_slot(head)
        fd = self.descriptor(queue_id)
        base = slots_at(queue_id)
        at = base + (head.counter % 2) * SLOT_SIZE
        try:
            diskio.pwrite(fd, record, at, self.path)
        except StorageError:
            self._seen = (None, None)
            with contextlib.suppress(OSError):  # a torn slot fails its checksum anyway
                os.pwrite(fd, bytes(SLOT_SIZE), at)
            raise
        seen = self._seen[0]
        if seen is not None and len(seen) == base + 2 * SLOT_SIZE:
            self._seen = (seen[:at] + record + seen[at + SLOT_SIZE:], head)

    def close(self) -> None:
        """Close the file; the next call opens it again."""
        if self.fd is not None:
            os.close(self.fd)
        self.fd = None


def slots_at(queue_id: str | None) -> int:
    """Where the slots start: after the header (version 3), or at 0 (version 2)."""
    return 0 if queue_id is None else HEAD_HEADER_SIZE


def header_of(queue_id: str) -> bytes:
    """The head file's header for the queue ``queue_id``."""
    return f"queue-head {queue_id}\n".encode().ljust(HEAD_HEADER_SIZE, b"\0")


def pack_slot(head: Head) -> bytes:
    """One slot holding ``head``, with its checksum."""
    values = (head.counter, head.generation, head.offset)
    return _SLOT.pack(*values, zlib.crc32(_SLOT.pack(*values, 0))).ljust(SLOT_SIZE, b"\0")


def pack_head(head: Head) -> bytes:
    """Both slots of a new head file: ``head`` in the first, the second empty."""
    return pack_slot(head) + bytes(SLOT_SIZE)


def parse_slot(raw: bytes, at: int) -> Head | None:
    """The slot at ``at`` of ``raw``, or ``None`` when it is short, torn or empty."""
    if len(raw) < at + _SLOT.size:
        return None
    counter, generation, offset, checksum = _SLOT.unpack_from(raw, at)
    if checksum != zlib.crc32(_SLOT.pack(counter, generation, offset, 0)) or generation == 0:
        return None
    return Head(counter, generation, offset)


def newest_head(fd: int, base: int, ticket: Ticket) -> tuple[int, tuple[int, int]]:
    """The newest head in the head file ``fd`` (slots from ``base``) as (counter, (generation,
    offset)); ``ticket``'s own head if no slot is readable."""
    raw = diskio.pread(fd, base + 2 * SLOT_SIZE, 0, ticket.path)
    slots = [s for s in (parse_slot(raw, base), parse_slot(raw, base + SLOT_SIZE)) if s]
    if not slots:
        return ticket.mark, ticket.state
    newest = max(slots, key=lambda s: s.counter)
    return newest.counter, (newest.generation, newest.offset)
