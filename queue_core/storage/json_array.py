"""The original's format: the whole queue is one JSON array, replaced atomically on each change."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from .. import diskio
from ..atomic import fsync_directory, remove_stale_temp_files, temp_prefix, write_atomic
from ..errors import CorruptQueueError, StorageError, storage_error
from .base import Storage


class JsonArrayStorage(Storage):
    """A JSON array of items, oldest first, readable by the original scripts.

    Every change reads and rewrites the whole file, so each operation costs time in
    proportion to the backlog. The file is only ever replaced whole, so it can be counted
    without the lock. It keeps no put times. A file that another program wrote with
    ``NaN``/``Infinity`` or with a ``null`` item at the head is refused (``CorruptQueueError``)
    rather than half read: ``null`` would look like an empty queue.
    """

    lock_free_count = True
    positions_repeat = True
    #: The file's bytes as the last ``_load`` read them (empty: no file).
    _loaded = b""

    def describe(self) -> dict[str, object]:
        return {"format": "json-array"}

    def initialize(self) -> None:
        remove_stale_temp_files(self.path)
        if not self.path.exists():
            self._loaded = b""
            self._write([])
        else:
            self._load()

    def append_many(self, encoded_items: list[str], put_at: float) -> None:
        items = self._load()
        items.extend(json.loads(encoded) for encoded in encoded_items)
        self._write(items)

    def pop_many(self, count: int) -> list[Any]:
        items = self._load()
        taken = self._heads(items, count)
        if taken:
            self._write(items[len(taken):])
        return taken

    def peek_many(self, count: int) -> list[tuple[Any, float | None]]:
        items = self._load()
        return [(item, None) for item in self._heads(items, count)]

    def position(self) -> str:
        try:
            return hashlib.sha256(diskio.read_regular(self.path)).hexdigest()
        except FileNotFoundError:
            return ""

    def count(self) -> int:
        return len(self._load())

    def _heads(self, items: list, count: int) -> list[Any]:
        """The first ``count`` items; ``CorruptQueueError`` if one of them is null."""
        taken = items[:count]
        if any(item is None for item in taken):
            which = "its first item is" if taken[0] is None else "one of its first items is"
            raise CorruptQueueError(self.path, f"{which} null, which a queue cannot hold "
                                    "(get() returns None for an empty queue)")
        return taken

    def _load(self) -> list:
        try:
            data = diskio.read_regular(self.path)
        except FileNotFoundError:
            if not self.path.parent.is_dir():
                raise  # the directory is gone: QueueDirectoryError (FileQueue)
            raise CorruptQueueError(self.path, "it is missing (removed while the queue was "
                                    "open): which items it held is unknown") from None
        self._loaded = data
        if not data.strip():
            raise CorruptQueueError(self.path, "the file is empty (a JSON array was expected)")
        try:
            items = json.loads(data, parse_constant=_refuse_constant)
        except RecursionError as error:
            raise CorruptQueueError(self.path, "it is nested too deep to decode") from error
        except (ValueError, UnicodeDecodeError) as error:
            problem = f"it is not valid JSON ({error})"
            if data.startswith(b'{"format":"queue-journal"'):
                problem += " (it looks like a journal: open it with format='journal')"
            raise CorruptQueueError(self.path, problem) from error
        if not isinstance(items, list):
            raise CorruptQueueError(
                self.path, f"it holds a JSON {_json_type_name(items)}, not a JSON array"
            )
        return items

    def _write(self, items: list) -> None:
        """Replace the file with ``items``; on failure the file is as ``_load`` read it.

        With ``fsync`` the file as read first gets a second, temporary name (a hard link), so
        that if only the directory sync after the rename fails, one rename puts it back, and
        the directory is synced again (without hard links: the previous bytes are written
        back as a new file). If even that fails, the ``StorageError`` says the change may
        have happened (``outcome_unknown``)."""
        data = json.dumps(items, separators=(",", ":")).encode()
        backup = self._backup() if self.fsync and self._loaded else None
        try:
            write_atomic(self.path, data, fsync=self.fsync)
        except StorageError as error:
            if error.replaced and self._loaded:  # only the directory sync failed: undo
                self._undo(error, backup)
            raise
        finally:
            if backup is not None:  # gone already if the undo renamed it back
                with contextlib.suppress(OSError):
                    os.unlink(backup)

    def _undo(self, error: StorageError, backup: Path | None) -> None:
        """Put the file as ``_load`` read it back, durably, after ``error`` (its directory
        sync failed once the new file was renamed in); ``StorageError`` with
        ``outcome_unknown`` if that cannot be done."""
        try:
            if backup is not None:
                diskio.replace(backup, self.path)
                fsync_directory(self.path.parent)
            else:
                write_atomic(self.path, self._loaded, fsync=True)
        except StorageError as undo:
            raise StorageError(error.path, error.operation, error.errno,
                               f"{error.detail}; putting the previous file back failed too "
                               f"({undo})", outcome_unknown=True) from undo

    def _backup(self) -> Path | None:
        """A second name, beside it, for the file as ``_load`` read it (a temporary file's
        name: one a crash leaves is removed at the next open); ``None`` on a file system
        without hard links."""
        backup = self.path.with_name(f"{temp_prefix(self.path)}undo-{secrets.token_hex(4)}")
        try:
            os.link(self.path, backup)
        except OSError as error:
            if error.errno in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS):
                return None
            raise storage_error(backup, "link", error) from error
        return backup


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON (a queue item cannot hold it)")


def _json_type_name(value: object) -> str:
    names = {dict: "object", str: "string", bool: "boolean", int: "number", float: "number"}
    return names.get(type(value), "null" if value is None else type(value).__name__)
