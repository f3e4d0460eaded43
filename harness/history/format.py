"""The history's vocabulary: the format of a record, the operation names, the outcomes, the
delivery modes; and the functions that make and check records. One line per completed or
crashed operation:

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

from typing import Any

from queue_core.contracts import AT_LEAST_ONCE, AT_MOST_ONCE, DELIVERY_MODES

from ..errors import HistoryError

__all__ = [
    "AT_LEAST_ONCE",
    "AT_MOST_ONCE",
    "CLOCK",
    "DELIVERY_MODES",
    "DRAINED",
    "DRAIN_PROCESS",
    "KNOWN_OPS",
    "OPS",
    "TYPES",
    "WORKER",
    "killed",
    "operation",
    "validate",
]

#: The operations a FIFO history is judged on.
OPS = ("put", "get")
#: The operation a drain records once it has seen the queue empty (with every lease over): an
#: item put before it and never taken is lost, not merely still queued.
DRAINED = "drained"
#: The operation that says the harness killed a process.
KILLED = "killed"
#: Every operation name the checkers know; any other is an error of the history, unless
#: mapped to one of these (``harness.history.files.rename_operations``).
KNOWN_OPS = ("put", "get", "size", "open", KILLED, DRAINED, "claim", "ack", "nack", "extend",
             "dead")
#: The outcomes: it happened, it raised (did not happen), its process died during it (maybe).
TYPES = ("ok", "fail", "info")
#: The process name of the final drain's operations.
DRAIN_PROCESS = "drain"
#: The optional field that names the worker whose place the process filled: a worker and its
#: replacements after kills name the same one (``producer-1``).
WORKER = "worker"
#: The optional field that names a record's clock domain (``harness.history.recorder``'s
#: ``clock_domain``): times of different domains cannot be compared, and a history that
#: mixes them is refused.
CLOCK = "clock"


def operation(process: Any, op: str, sent: Any, outcome: str, call: int, returned: int | None,
              value: Any = None, error: str | None = None) -> dict[str, Any]:
    """The record of one operation: a put keeps the value it sent, others what they returned."""
    record = {"process": process, "op": op, "value": sent if op == "put" else value,
              "type": outcome, "call": call, "return": returned}
    if error is not None:
        record["error"] = error
    return record


def killed(process: Any, at: int) -> dict[str, Any]:
    """The record of the harness killing ``process`` at ``at``."""
    return {"process": process, "op": KILLED, "value": None, "type": "ok", "call": at,
            "return": at}


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


def _is_time(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
