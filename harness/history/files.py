"""The history format: one JSON object per line, one line per completed or crashed operation.

    {"process": 3, "op": "put", "value": "w3:17", "type": "ok", "call": 120034, "return": 120877}

- ``process``: an int or a string naming the process (a replacement after a kill gets a new one);
- ``op``: ``"put"`` or ``"get"`` (``"size"``, ``"open"`` and ``"killed"`` are kept and ignored
  by the FIFO checks; ``"drained"`` is the drain's proof that it found the queue empty); a
  claim/ack history has ``"claim"``, ``"ack"``, ``"nack"`` and ``"dead"`` instead of ``"get"``
  (their values are described in ``harness.checkers.delivery``); any other name is an error
  unless mapped (``KNOWN_OPS``, ``rename_operations``);
- ``value``: what was put, or what the get returned (``null`` for a get that found the queue
  empty, or whose outcome is unknown); every put value is unique in a history;
- ``type``: ``"ok"`` (it happened), ``"fail"`` (it raised; ``error`` says what) or ``"info"``
  (the process died during the call: it may or may not have happened);
- ``call`` / ``return``: ``time.monotonic_ns()`` just before the call and just after it returned;
  ``return`` is ``null`` or the time the harness saw the process die for an ``info`` operation.

Extra fields are allowed and ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

OPS = ("put", "get")
#: Every operation name the checkers know; any other is an error of the history, unless
#: mapped to one of these (``rename_operations``).
KNOWN_OPS = ("put", "get", "size", "open", "killed", "drained", "claim", "ack", "nack",
             "extend", "dead")
TYPES = ("ok", "fail", "info")
_TYPES_SET = frozenset(TYPES)


class HistoryError(ValueError):
    """A history file or record does not follow the format; says where and why."""


def validate(record: Any, where: str = "record") -> dict[str, Any]:
    """Return ``record`` if it is a valid history record, else raise ``HistoryError``."""
    if not isinstance(record, dict):
        raise HistoryError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [k for k in ("process", "op", "value", "type", "call", "return") if k not in record]
    if missing:
        raise HistoryError(f"{where}: missing field(s) {', '.join(missing)}")
    process, op, kind = record["process"], record["op"], record["type"]
    if isinstance(process, bool) or not isinstance(process, int | str):
        raise HistoryError(f"{where}: 'process' must be an integer or a string")
    if not isinstance(op, str):
        raise HistoryError(f"{where}: 'op' must be a string such as 'put' or 'get'")
    if kind not in TYPES:
        raise HistoryError(f"{where}: 'type' must be one of {', '.join(TYPES)}, got {kind!r}")
    if not _is_time(record["call"]):
        raise HistoryError(f"{where}: 'call' must be an integer time in nanoseconds")
    returned = record["return"]
    if returned is None:
        if kind != "info":
            raise HistoryError(f"{where}: 'return' may be null only for an 'info' operation")
    elif not _is_time(returned) or returned < record["call"]:
        raise HistoryError(f"{where}: 'return' must be an integer time not before 'call'")
    if op == "put" and record["value"] is None:
        raise HistoryError(f"{where}: a put needs a value")
    return record


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


def _is_time(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
