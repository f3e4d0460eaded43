"""History files: read a saved history (ours or another tool's, with its operation names
mapped to ours) and write one. The format is ``harness.history.format``'s."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from ..errors import HistoryError
from .format import KNOWN_OPS, OPS, TYPES, validate

_TYPES_SET = frozenset(TYPES)

def read_history(path: Path) -> list[dict[str, Any]]:
    """Every record of a history file, validated; ``HistoryError`` names the bad line."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line for line in handle.read().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise HistoryError(f"cannot read history {path}: {error}") from error
    try:
        records = orjson.loads("[" + ",".join(lines) + "]")
    except orjson.JSONDecodeError:
        records = None
    if records is None or len(records) != len(lines):
        # Slow path: line by line, so that the first bad line is the one reported.
        return [
            validate(_parse_line(path, number, line), f"{path}:{number}")
            for number, line in _numbered(path)
        ]
    unusual = [index for index, record in enumerate(records) if not _is_plain_record(record)]
    if unusual:
        numbers = [number for number, _ in _numbered(path)]
        for index in unusual:
            validate(records[index], f"{path}:{numbers[index]}")
    return records


def _numbered(path: Path) -> list[tuple[int, str]]:
    with open(path, encoding="utf-8") as handle:
        return [(n, line) for n, line in enumerate(handle, start=1) if line.strip()]


def _parse_line(path: Path, number: int, line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError as error:
        raise HistoryError(f"{path}:{number}: not valid JSON ({error})") from error


_PLAIN_OPS = frozenset(OPS)


def _is_plain_record(record: Any) -> bool:
    """The common case, checked fast: an ok/info/fail put or get with integer times."""
    try:
        call, returned, kind = record["call"], record["return"], record["type"]
        process = record["process"]
        return (
            record["op"] in _PLAIN_OPS
            and type(call) is int and call >= 0
            and (
                (type(returned) is int and returned >= call)
                or (returned is None and kind == "info")
            )
            and kind in _TYPES_SET
            and type(process) in (int, str)
            and "value" in record
            and (record["value"] is not None or record["op"] == "get")
        )
    except (KeyError, TypeError):
        return False


def parse_op_names(text: str) -> dict[str, str]:
    """``put=enqueue,get=dequeue`` as {their name: ours}; ``HistoryError`` says what is wrong."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        ours, sep, theirs = (side.strip() for side in part.partition("="))
        if not sep or not ours or not theirs:
            raise HistoryError(f"--op-names: {part!r} is not OURS=THEIRS (e.g. put=enqueue)")
        if ours not in KNOWN_OPS:
            raise HistoryError(f"--op-names: {ours!r} is not an operation the checkers know "
                               f"({', '.join(KNOWN_OPS)})")
        mapping[theirs] = ours
    return mapping


def rename_operations(history: list[dict[str, Any]], mapping: dict[str, str]) -> None:
    """Give the operations named in ``mapping`` (their name: ours) the checkers' names."""
    if mapping:
        for record in history:
            record["op"] = mapping.get(record["op"], record["op"])


def first_unknown_operation(history: list[dict[str, Any]]) -> int | None:
    """The index of the first record whose operation the checkers do not know, or None."""
    known = frozenset(KNOWN_OPS)
    if not set(map(itemgetter("op"), history)) - known:  # the usual case, at C speed
        return None
    return next((i for i, record in enumerate(history) if record["op"] not in known), None)


def line_of(path: Path, index: int) -> int:
    """The line number in ``path`` of the ``index``-th record (blank lines are skipped)."""
    return _numbered(path)[index][0]


def write_history(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` as JSON lines; how many were written."""
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for line in encode_lines(records):
            handle.write(line)
            count += 1
    return count


def encode_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Each record as one line of compact JSON."""
    for record in records:
        yield json.dumps(record, separators=(",", ":")) + "\n"
