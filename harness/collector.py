"""The collector: turns the workers' report lines (``harness.record.PipeSink``) into history
records as they arrive, and keeps the live counts the supervisor needs."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from typing import Any

from .record import FLUSH_LINE, operation

log = logging.getLogger("harness.collector")


class Collector(threading.Thread):
    """Reads report lines from ``read_fd`` until every writer has closed it.

    ``records`` holds the completed operations; ``pending`` the one each process began and has
    not finished; ``invoked_by`` how many operations each process began. Hold ``lock`` to read
    them while the thread runs.
    """

    def __init__(self, read_fd: int) -> None:
        super().__init__(name="history-collector", daemon=True)
        self.read_fd = read_fd
        self.records: list[dict[str, Any]] = []
        self.pending: dict[int, tuple[str, int, Any]] = {}
        self.invoked_by: Counter[int] = Counter()
        self.seen_values: set[str] = set()
        self.live_violations = 0
        self.lock = threading.Lock()
        self._caught_up = threading.Event()

    def run(self) -> None:
        buffered = b""
        while chunk := os.read(self.read_fd, 1 << 16):
            buffered += chunk
            *lines, buffered = buffered.split(b"\n")
            with self.lock:
                for line in lines:
                    self._handle(line.decode())
        os.close(self.read_fd)

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
        """Count what is certainly wrong already: a raised operation, a value got twice."""
        if record["type"] == "fail":
            self.live_violations += 1
        elif record["op"] == "get" and record["value"] is not None:
            key = json.dumps(record["value"])
            if key in self.seen_values:
                self.live_violations += 1
            self.seen_values.add(key)
