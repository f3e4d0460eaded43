"""The records of ``tasks.json.sync`` (see ``groupcommit``): which file one describes (``Key``),
what it knows of that file's durability (``Record``), a change waiting for a sync (``Ticket``),
their bytes, and what a record says of a waiting change: durable, taken back, or no longer
known (``covered``)."""

from __future__ import annotations

import errno
import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

from .errors import StorageError

#: How many epochs back a record remembers what their take-backs kept.
KEPT_EPOCHS = 8
#: key (queue id, generation, inode), epoch, synced, failed, two values of the synced state
#: (the head's generation and offset), the first kept epoch, what the take-backs kept, and the
#: crc32 of all that (a record read without the lock may be half written), in a slot of
#: ``RECORD_SIZE`` bytes.
_FIELDS = struct.Struct(f"<16sQQQQQQQQ{KEPT_EPOCHS}Q")
CHECKSUM = struct.Struct("<I")
RECORD = struct.Struct(_FIELDS.format + "I")
RECORD_SIZE = 160


class Key(NamedTuple):
    """Which file a record describes: the same key means the same bytes, in order."""

    #: The queue's id (16 bytes, zero-padded; zeros for a format without one).
    queue_id: bytes
    generation: int
    inode: int


class Record(NamedTuple):
    """What is known about one file's durability."""

    key: Key
    #: Changes of an earlier epoch were taken back after a failed sync.
    epoch: int = 0
    #: Everything up to this mark is durable.
    synced: int = 0
    #: A sync up to this mark failed (0: none pending): changes beyond ``synced`` are to be
    #: taken back.
    failed: int = 0
    #: The synced state, for a head: its generation and offset.
    state: tuple[int, int] = (0, 0)
    #: The first epoch whose take-back is remembered (the record's first epoch).
    kept_from: int = 0
    #: What the take-backs that ended the last ``KEPT_EPOCHS`` epochs kept (what was synced),
    #: newest first: the changes of epoch ``epoch - 1 - n`` up to ``kept[n]`` are durable.
    kept: tuple[int, ...] = (0,) * KEPT_EPOCHS


class Ticket(NamedTuple):
    """A change that is written but not yet known to be durable."""

    slot: int
    key: Key
    epoch: int
    #: The change is durable once the record's ``synced`` reaches this mark.
    mark: int
    #: The descriptor to sync (the ticket's own: ``close_ticket`` releases it), and the
    #: file's path for error messages.
    fd: int
    path: Path
    #: A head's generation and offset (the state a failed sync's take-back returns to).
    state: tuple[int, int] = (0, 0)


def covered(record: Record | None, ticket: Ticket) -> bool:
    """True if ``record`` says ``ticket``'s change is durable; ``StorageError`` if it says the
    change was taken back (its epoch is over, and what was kept of it ends before the change),
    or, with ``outcome_unknown``, if it no longer says what became of it (it started over
    since the change, or the change is older than the epochs it remembers); False if there
    is no record, or the change is of its epoch and not synced yet."""
    if record is None:
        return False
    if record.epoch == ticket.epoch:
        return record.synced >= ticket.mark
    back = record.epoch - 1 - ticket.epoch
    if record.kept_from > ticket.epoch:
        raise outcome_unknown_error(ticket.path, "the record of this change's sync was "
                                    "damaged or removed, and started over since")
    if not 0 <= back < KEPT_EPOCHS:
        raise outcome_unknown_error(ticket.path, "the change waited through more take-backs "
                                    f"of failed syncs than the record remembers ({KEPT_EPOCHS})")
    if ticket.mark <= record.kept[back]:
        return True
    raise taken_back_error(ticket.path)


def unpacked(raw: bytes) -> Record | None:
    """The record in ``raw`` if it is whole (its checksum holds), whatever file it names."""
    if len(raw) != RECORD.size:
        return None
    *fields, checksum = RECORD.unpack(raw)
    if zlib.crc32(raw[:-4]) != checksum:
        return None
    queue_id, generation, inode, epoch, synced, failed, a, b, kept_from, *kept = fields
    return Record(Key(queue_id, generation, inode), epoch, synced, failed, (a, b), kept_from,
                  tuple(kept))


def packed(record: Record) -> bytes:
    """``record`` as ``.sync`` holds it, with its checksum."""
    fields = _FIELDS.pack(*record.key, record.epoch, record.synced, record.failed,
                          *record.state, record.kept_from, *record.kept)
    return fields + CHECKSUM.pack(zlib.crc32(fields))


def taken_back_error(path: Path) -> StorageError:
    """The error of a change that a failed sync's take-back removed."""
    return StorageError(path, "fsync", errno.EIO,
                        "a sync of this change failed (here or in another process); the "
                        "change was taken back")


def outcome_unknown_error(path: Path, why: str, code: int = errno.EIO) -> StorageError:
    """The error of a change whose durability cannot be told: it may have happened."""
    return StorageError(path, "fsync", code, why, outcome_unknown=True)


def key_of(queue_id: str | None, generation: int, inode: int) -> Key:
    """The key of a file of the queue ``queue_id`` (``None``: a format without an id)."""
    return Key((queue_id or "").encode()[:16].ljust(16, b"\0"), generation, inode)


def taken_back(record: Record, **changes: int) -> Record:
    """``record`` in the next epoch, after a take-back that kept what was synced."""
    return record._replace(epoch=record.epoch + 1, failed=0,
                           kept=(record.synced, *record.kept[:-1]), **changes)


def close_ticket(ticket: Ticket) -> None:
    """Release the descriptor ``ticket`` holds."""
    os.close(ticket.fd)
