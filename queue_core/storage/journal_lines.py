"""The journal's item lines: ``<sequence number> <put time> <item JSON>``, one per item, read
from the data file by offset: where a line starts and ends, what its fields hold, and its item
decoded. Damage is a ``CorruptQueueError`` naming the file and the byte: a head that is not at
the start of a line, a line that is not ``<number> <put time> <JSON>``, an item that does not
decode (read before the head moves, so a get never loses an item it could not decode).

A mixin of ``JournalStorage``: it reads that class's files (``path``, ``head_path``) and
names the damage with its ``_corrupt``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import diskio
from ..errors import CorruptQueueError
from ..items import decode_items

#: Bytes that JSON text never holds raw: the control characters other than its whitespace
#: (tab, newline, carriage return). Zeros from a damaged disk are the usual ones.
_NOT_JSON = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_TAIL_CHUNK = 512
#: What a batch read first reads per line it wants (more if a line is longer).
_LINE_GUESS = 256


class JournalLines:
    """Reading the journal's item lines."""

    path: Path
    head_path: Path
    _corrupt: Callable[[Path, str], CorruptQueueError]

    def _items_from(self, fd: int, offset: int, size: int,
                    count: int) -> tuple[list[tuple[Any, float]], int]:
        """Up to ``count`` items from ``offset``, decoded, with their put times, and the
        offset after the last of them; ``CorruptQueueError`` naming the line whose item does
        not decode (nested too deep, or not one JSON value)."""
        taken, end = self._lines_from(fd, offset, size, count)
        texts = [encoded for _, encoded in taken]
        try:
            items = decode_items(texts)
        except (ValueError, RecursionError):
            items = self._decoded_one_by_one(fd, texts, offset, size)
        return [(item, put_at) for item, (put_at, _) in zip(items, taken, strict=True)], end

    def _decoded_one_by_one(self, fd: int, texts: list[str], offset: int,
                            size: int) -> list[Any]:
        """The items of ``texts``, the lines from ``offset``; the error names the first
        line whose item does not decode."""
        items = []
        for text in texts:
            try:
                items.append(json.loads(text))
            except (ValueError, RecursionError) as error:
                why = ("it is nested too deep to decode" if isinstance(error, RecursionError)
                       else f"its item is not one JSON value ({error})")
                raise self._corrupt(self.path, f"the line at byte {offset}: {why}") from error
            offset = self._line_at(fd, offset, size)[1]
        return items

    def _lines_from(self, fd: int, offset: int, size: int,
                    count: int) -> tuple[list[tuple[float, str]], int]:
        """Up to ``count`` complete item lines from ``offset`` as (put time, item JSON), and
        the offset after the last of them."""
        taken: list[tuple[float, str]] = []
        per_line = _LINE_GUESS
        while len(taken) < count and offset < size:
            want = min(size - offset, per_line * (count - len(taken)))
            raw = diskio.pread(fd, want + 1, offset - 1, self.path)  # from the newline before
            if raw[:1] != b"\n":
                raise self._corrupt(self.head_path, f"it points at byte {offset} of "
                                    f"{self.path.name}, which is not the start of a line")
            start = 1
            while len(taken) < count:
                end = raw.find(b"\n", start)
                if end < 0:
                    break
                damaged = _NOT_JSON.search(raw, start, end)
                if damaged is not None:
                    at = offset + damaged.start() - start
                    raise self._corrupt(self.path, f"byte {at} is {raw[damaged.start()]:#04x}, "
                                        "which JSON text never holds (a damaged disk?), in "
                                        f"the line at byte {offset}")
                _, put_at, encoded = self._split(raw[start:end], offset)
                taken.append((put_at, encoded))
                offset += end + 1 - start
                start = end + 1
            if start == 1:  # not one whole line in what was read
                if offset + len(raw) - 1 >= size:
                    break  # only a half-written line is left (or the file shrank)
                per_line *= 4
        return taken, offset

    def _line_at(self, fd: int, offset: int, size: int) -> tuple[bytes | None, int]:
        """The complete line starting at ``offset`` (without its newline) and the next offset;
        ``CorruptQueueError`` if ``offset`` is not at the start of a line."""
        chunk = _TAIL_CHUNK
        while offset < size:
            raw = diskio.pread(fd, chunk + 1, offset - 1, self.path)  # from the newline before
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
            raw = diskio.pread(fd, end - start, start, self.path)
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

