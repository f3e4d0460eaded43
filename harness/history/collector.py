"""The collector: turns the workers' report lines (``harness.history.recorder.PipeSink``) into
history records as they arrive, and keeps the live counts the supervisor needs."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from .files import encode_lines
from .format import operation
from .recorder import FLUSH_LINE

log = logging.getLogger("harness.history.collector")


class Collector(threading.Thread):
    """Reads report lines from ``read_fd`` until every writer has closed it.

    ``records`` holds the completed operations; ``pending`` the one each process began and has
    not finished; ``invoked_by`` how many operations each process began. Hold ``lock`` to read
    them while the thread runs.
    """

    def __init__(self, read_fd: int, keep_in: Path | None = None) -> None:
        super().__init__(name="history-collector", daemon=True)
        self.read_fd = read_fd
        #: Where each record is appended as it arrives, so that a harness that dies keeps them.
        self.keep_in = keep_in
        #: Why the records could not be kept on disk, if they could not.
        self.keep_error: str | None = None
        self.records: list[dict[str, Any]] = []
        self.pending: dict[int, tuple[str, int, Any]] = {}
        self.invoked_by: Counter[int] = Counter()
        self.seen_values: set[str] = set()
        self.live_violations = 0
        #: Items taken so far: gets that returned one, acks the queue accepted.
        self.taken = 0
        self.lock = threading.Lock()
        self._caught_up = threading.Event()

    def run(self) -> None:
        with contextlib.ExitStack() as stack:
            kept = self._open_kept(stack)
            buffered = b""
            while chunk := os.read(self.read_fd, 1 << 16):
                buffered += chunk
                *lines, buffered = buffered.split(b"\n")
                with self.lock:
                    done = len(self.records)
                    for line in lines:
                        self._handle(line.decode())
                    if kept is not None and not self._keep(kept, self.records[done:]):
                        kept = None
        os.close(self.read_fd)

    def _open_kept(self, stack: contextlib.ExitStack) -> Any:
        if self.keep_in is None:
            return None
        try:
            return stack.enter_context(open(self.keep_in, "a", encoding="utf-8"))
        except OSError as error:
            self.keep_error = f"cannot write {self.keep_in}: {error.strerror}"
            return None

    def _keep(self, kept: Any, records: list[dict[str, Any]]) -> bool:
        """Append ``records`` to the kept file; False (and ``keep_error``) once that fails."""
        try:
            kept.writelines(encode_lines(records))
            kept.flush()
        except OSError as error:
            self.keep_error = f"cannot write {self.keep_in}: {error.strerror}"
            return False
        return True

    def catch_up(self, write_fd: int) -> None:
        """Return once every report written to the pipe before this call is handled."""
        self._caught_up.clear()
        os.write(write_fd, FLUSH_LINE.encode())
        if not self._caught_up.wait(timeout=10):
            log.warning("the history collector did not catch up within 10 s")

    def crashed(self, deaths: dict[int, int]) -> list[dict[str, Any]]:
        """``info`` records for the operations that workers began and never finished."""
        return [operation(pid, op, value, "info", call, deaths.get(pid), value)
                for pid, (op, call, value) in self.pending.items()]

    def _handle(self, line: str) -> None:
        kind, pid_text, *rest = line.split("\t")
        if kind == "F":
            self._caught_up.set()
            return
        pid = int(pid_text)
        if kind == "I":
            op, call, value = rest
            self.pending[pid] = (op, int(call), json.loads(value))
            self.invoked_by[pid] += 1
            return
        op, call, sent = self.pending.pop(pid)
        outcome, returned, value, error = rest
        record = operation(pid, op, sent, outcome, call, int(returned), json.loads(value),
                           json.loads(error))
        self._count_live_violation(record)
        self.records.append(record)

    def _count_live_violation(self, record: dict[str, Any]) -> None:
        taken, violations = live_counts(record, self.seen_values)
        self.taken += taken
        self.live_violations += violations


def live_counts(record: dict[str, Any], seen: set[str]) -> tuple[int, int]:
    """What ``record`` adds to a run's progress: items taken (a get that returned one, an ack
    the queue accepted), and violations already certain (a raised operation, a value got
    twice); ``seen`` holds the values got so far and takes this one."""
    if record["type"] == "fail":
        return 0, 1
    if record["type"] != "ok":
        return 0, 0
    if record["op"] == "get" and record["value"] is not None:
        key = json.dumps(record["value"])
        twice = key in seen
        seen.add(key)
        return 1, int(twice)
    if record["op"] == "ack" and not record["value"].get("ended"):
        return 1, 0
    return 0, 0
