"""Recording operations: the one recorder, the history records it makes, and where it sends them.

A ``Recorder`` times each call of one process with ``time.monotonic_ns()`` and reports it twice,
before the call (invoked) and after it (completed), to a sink:

- ``PipeSink`` writes each report as one line to a pipe, in a single ``write`` that a SIGKILL
  cannot split (workers use it; ``harness.history.collector`` turns the lines back into records);
- ``ListSink`` builds the records in memory (the drain, which runs in the harness itself);
- ``FileSink`` appends each report as one JSON line to a history file of its own, where a
  worker runs in a container (``records_from_lines`` reads such a file back).

Both make the same records (see ``harness.history.files`` for the format). Standard library
only: the same module runs wherever a worker runs.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import HistoryError, HistoryUnwritable
from .format import CLOCK, operation

#: How much of an exception's text a ``fail`` record keeps.
ERROR_CHARS = 300
#: The line a collector answers once every line written before it is handled.
FLUSH_LINE = "F\t0\n"


class Sink(Protocol):
    """Where a recorder's reports go."""

    def invoked(self, process: Any, op: str, call: int, value: Any) -> None:
        """``op`` was called at ``call`` with ``value`` (the value put, or ``None``)."""

    def completed(self, process: Any, outcome: str, returned: int, value: Any,
                  error: str | None) -> None:
        """The operation ``process`` last invoked ended: ``ok`` with ``value``, ``fail``, or
        ``info`` (it raised, saying it may have happened)."""


class Recorder:
    """Runs the operations of one process, recording each one with its times and outcome."""

    def __init__(self, process: Any, sink: Sink) -> None:
        self.process = process
        self.sink = sink

    def __call__(self, op: str, call: Callable[[], Any], value: Any = None,
                 show: Callable[[Any], Any] | None = None) -> tuple[bool, Any]:
        """Run ``call`` as the operation ``op``: (True, its result), or (False, None) if it raised.

        ``value`` is what the operation sends (the item of a put); ``show`` turns the result
        into the value recorded (default: the result itself; nothing for ``open``). An
        operation that raised is ``fail`` (it did not happen), unless its exception has a true
        ``outcome_unknown`` attribute (it may have happened): then it is ``info``, as if its
        process had died during it, with what it sent and the error's text.
        """
        self.sink.invoked(self.process, op, time.monotonic_ns(), value)
        try:
            result = call()
        except Exception as error:
            if getattr(error, "outcome_unknown", False) is True:
                self.sink.completed(self.process, "info", time.monotonic_ns(), value,
                                    describe_error(error))
            else:
                self.sink.completed(self.process, "fail", time.monotonic_ns(), None,
                                    describe_error(error))
            return False, None
        shown = show(result) if show is not None else None if op == "open" else result
        self.sink.completed(self.process, "ok", time.monotonic_ns(), shown, None)
        return True, result


def describe_error(error: BaseException) -> str:
    """An exception as a ``fail`` record's ``error``: its type and its text, shortened."""
    return f"{type(error).__name__}: {error}"[:ERROR_CHARS]


class PipeSink:
    """Reports as lines on a pipe: ``I`` (invoked) and ``C`` (completed), one ``write`` each."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def invoked(self, process: Any, op: str, call: int, value: Any) -> None:
        os.write(self.fd, f"I\t{process}\t{op}\t{call}\t{json.dumps(value)}\n".encode())

    def completed(self, process: Any, outcome: str, returned: int, value: Any,
                  error: str | None) -> None:
        os.write(self.fd, f"C\t{process}\t{outcome}\t{returned}\t{json.dumps(value)}\t"
                          f"{json.dumps(error)}\n".encode())


class ListSink:
    """Records kept in memory, in the order the operations completed."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._pending: tuple[str, int, Any] | None = None

    def invoked(self, process: Any, op: str, call: int, value: Any) -> None:
        self._pending = (op, call, value)

    def completed(self, process: Any, outcome: str, returned: int, value: Any,
                  error: str | None) -> None:
        assert self._pending is not None, "completed without invoked"
        op, call, sent = self._pending
        self._pending = None
        self.records.append(operation(process, op, sent, outcome, call, returned, value, error))


def clock_domain() -> str:
    """Which ``time.monotonic_ns()`` this process reads: the kernel's boot id and the time
    namespace's (processes of one machine, containers of one node, share it; two machines,
    or a container with a time namespace of its own, do not)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            booted = boot.read().strip()
    except OSError:
        booted = "unknown-boot"
    try:
        namespace = os.stat("/proc/self/ns/time").st_ino
    except OSError:
        namespace = 0
    return f"{booted}/{namespace}"


class FileSink:
    """Reports as JSON lines appended to ``path`` (created), one ``write`` each, so that a
    process killed at any instant leaves whole lines: ``["I", op, call, value]`` when an
    operation is invoked, ``["C", outcome, returned, value, error]`` when it completes, and
    ``["clock", domain]`` before them: which clock their times are on.

    A write that fails or falls short raises ``HistoryUnwritable`` and nothing is written to
    the file after it: at worst its last line is cut short, and an operation whose invocation
    could not be recorded is never called."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        self.broken: str | None = None

    def note_clock(self, clock: str) -> None:
        """Say which clock the times that follow are on (``clock_domain``)."""
        self._append([CLOCK, clock])

    def invoked(self, process: Any, op: str, call: int, value: Any) -> None:
        self._append(["I", op, call, value])

    def completed(self, process: Any, outcome: str, returned: int, value: Any,
                  error: str | None) -> None:
        self._append(["C", outcome, returned, value, error])

    def _append(self, report: list[Any]) -> None:
        if self.broken is None:
            line = (json.dumps(report) + "\n").encode()
            try:
                written = os.write(self.fd, line)
            except OSError as error:
                self.broken = f"cannot write {self.path}: {error.strerror}"
            else:
                if written != len(line):
                    self.broken = f"{self.path} took {written} of {len(line)} bytes"
        if self.broken is not None:
            raise HistoryUnwritable(self.broken)

    def close(self) -> None:
        os.close(self.fd)


def records_from_lines(process: Any, lines: Any, died_at: int | None = None
                       ) -> list[dict[str, Any]]:
    """The records of a ``FileSink`` file's ``lines``, as ``process``: an operation invoked and
    never completed (its process was killed) becomes an ``info`` record ending at ``died_at``.
    A last line cut short (read while being written, or by a full disk) is ignored, so an
    operation whose completion it held is ``info`` too; ``HistoryError`` for a line that is
    not a report anywhere else. Records of a file that names its clock carry it (``clock``)."""
    records: list[dict[str, Any]] = []
    pending: tuple[str, int, Any] | None = None
    clock = None
    lines = list(lines)
    for number, line in enumerate(lines, 1):
        try:
            report = json.loads(line)
        except ValueError:
            if number == len(lines):
                continue
            raise HistoryError(f"line {number} of {process}'s history is not a report: "
                                 f"{line[:80]!r}") from None
        if report[0] == CLOCK:
            clock = report[1]
        elif report[0] == "I":
            _, op, call, value = report
            pending = (op, call, value)
        elif pending is not None:
            _, outcome, returned, value, error = report
            op, call, sent = pending
            records.append(operation(process, op, sent, outcome, call, returned, value, error))
            pending = None
    if pending is not None:
        op, call, sent = pending
        records.append(operation(process, op, sent, "info", call, died_at, sent))
    if clock is not None:
        for record in records:
            record[CLOCK] = clock
    return records
