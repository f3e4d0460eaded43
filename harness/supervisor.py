"""The supervisor: owns the worker processes of a run (spawn, reap, kill one and replace it,
stop them all), keeps the producers' quotas across replacements, and reports progress."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for_sentinels
from pathlib import Path
from typing import Any

import multiprocessing_logging

from .collector import Collector
from .record import PipeSink, Recorder, killed
from .worker import WorkerPlan, run_worker

log = logging.getLogger("harness.supervisor")
_fork = multiprocessing.get_context("fork")
#: A worker's exit code when it crashed in the harness's own code (not in a queue operation).
WORKER_CRASHED = 4
#: Seconds between the start signal and the instant every first worker starts at once.
START_DELAY_NS = 20_000_000

#: ``progress(operations, kills, violations_so_far)``, called about twice a second.
Progress = Callable[[int, int, int], None]


@dataclass
class Worker:
    """A live worker process and the slot it fills."""

    role: str
    slot: int
    pid: int
    process: Any


@dataclass(frozen=True)
class Crew:
    """The workers a run needs: how many of each role, and the producers' quotas by slot."""

    quotas: list[int]
    consumers: int
    readers: int


@dataclass(frozen=True)
class Limits:
    """When a run ends, and how it tells the workers: the markers they watch."""

    #: Seconds after which an unfinished run is abandoned.
    timeout: float
    #: Seconds after which producers stop putting (None: when their quotas are out).
    duration: float | None
    #: Mean seconds between two kills (None: no kills).
    kill_every: float | None
    stop_marker: Path
    done_marker: Path


class Supervisor:
    """Starts the workers, kills one at random about every ``kill_every`` seconds and starts
    a replacement in its slot, notes every failure, and stops them all at the end.

    ``plan(role, process, quota, seed)`` makes a worker's plan; ``open_queue()`` is called
    in each worker to open the queue. Every worker reports to ``collector`` through
    ``report_fd``.
    """

    def __init__(self, crew: Crew, plan: Callable[[str, int, int, int], WorkerPlan],
                 open_queue: Callable[[], Any], collector: Collector, report_fd: int,
                 rng: random.Random) -> None:
        self.crew = crew
        self.plan = plan
        self.open_queue = open_queue
        self.collector = collector
        self.report_fd = report_fd
        self.rng = rng
        self.alive: dict[int, Worker] = {}
        self.deaths: dict[int, int] = {}
        self.kills = 0
        self.failures: list[str] = []
        self.slot_pids: dict[int, list[int]] = {slot: [] for slot in range(len(crew.quotas))}
        self._next_pid = 0
        self._go_read, self._go_write = os.pipe()

    def start(self) -> float:
        """Start every first worker at one instant, so that they race to create the queue as
        containers starting together do; that instant on the ``time.monotonic()`` clock."""
        for slot, quota in enumerate(self.crew.quotas):
            self.spawn("producer", slot, quota, wait_for_go=True)
        for slot in range(self.crew.consumers):
            self.spawn("consumer", slot, 0, wait_for_go=True)
        for slot in range(self.crew.readers):
            self.spawn("reader", slot, 0, wait_for_go=True)
        start_at = time.monotonic_ns() + START_DELAY_NS
        os.write(self._go_write, start_at.to_bytes(8, "big") * len(self.alive))
        return start_at / 1e9

    def spawn(self, role: str, slot: int, quota: int, wait_for_go: bool = False) -> Worker:
        """Start one worker in ``slot``; a new process number, never reused."""
        self._next_pid += 1
        pid = self._next_pid
        plan = self.plan(role, pid, quota, self.rng.getrandbits(32))
        go_fd = self._go_read if wait_for_go else None
        process = _fork.Process(target=_worker_process,
                                args=(plan, self.open_queue, self.report_fd, go_fd), daemon=True)
        process.start()
        worker = self.alive[pid] = Worker(role, slot, pid, process)
        if role == "producer":
            self.slot_pids[slot].append(pid)
        return worker

    def reap(self) -> None:
        """Forget the workers that exited; note those that did not exit 0."""
        for pid, worker in list(self.alive.items()):
            code = worker.process.exitcode
            if code is not None:
                del self.alive[pid]
                if code != 0:
                    self.failures.append(f"{worker.role} {pid} exited with code {code}")

    def producing(self) -> bool:
        """True while any producer is alive."""
        return any(w.role == "producer" for w in self.alive.values())

    def kill_one(self) -> None:
        """SIGKILL a random producer or consumer and start its replacement."""
        candidates = [w for w in self.alive.values() if w.role != "reader"]
        if not candidates:
            return
        victim = self.rng.choice(candidates)
        victim.process.kill()
        victim.process.join()
        self.deaths[victim.pid] = time.monotonic_ns()
        del self.alive[victim.pid]
        self.kills += 1
        quota = self._quota_left(victim.slot) if victim.role == "producer" else 0
        self.spawn(victim.role, victim.slot, quota)

    def _quota_left(self, slot: int) -> int:
        """What is left of the slot's quota: every put its workers began counts as used."""
        self.collector.catch_up(self.report_fd)
        with self.collector.lock:
            # Each worker's first operation is its open.
            used = sum(self.collector.invoked_by[p] - 1 for p in self.slot_pids[slot])
        return max(0, self.crew.quotas[slot] - used)

    def wait(self, timeout: float) -> None:
        """Return when a worker exits, or after ``timeout`` seconds."""
        wait_for_sentinels([w.process.sentinel for w in self.alive.values()], timeout)

    def report_progress(self, progress: Progress) -> None:
        """Call ``progress`` with the operations recorded, the kills and the violations so far."""
        with self.collector.lock:
            progress(len(self.collector.records), self.kills, self.collector.live_violations)

    def supervise(self, started: float, limits: Limits, progress: Progress | None = None
                  ) -> str | None:
        """Watch the workers from ``started`` until all have finished, killing one now and then
        (consumers until they finish, producers until they are done); ``None``, or why the run
        was abandoned."""
        gap = limits.kill_every
        next_kill = None if gap is None else started + self.rng.uniform(0.5, 1.5) * gap
        next_progress = started + 0.5
        producers_done = False
        while True:
            now = time.monotonic()
            if now - started > limits.timeout:
                return (f"the run did not finish within {limits.timeout:g} s "
                        "(a worker hung, or the queue stopped making progress)")
            if limits.duration is not None and now - started >= limits.duration:
                limits.stop_marker.touch()
            self.reap()
            if not producers_done and not self.producing():
                limits.done_marker.touch()
                producers_done = True
            if producers_done and not self.alive:
                return None
            if next_kill is not None and now >= next_kill:
                self.kill_one()
                next_kill = now + self.rng.uniform(0.5, 1.5) * gap
            if progress is not None and now >= next_progress:
                self.report_progress(progress)
                next_progress = now + 0.5
            self.wait(0.1 if next_kill is None else max(0.0, min(0.1, next_kill - now)))

    def stop(self) -> None:
        """Kill every worker still alive and wait for it; close the start pipe."""
        for worker in self.alive.values():
            worker.process.kill()
            worker.process.join()
        self.alive.clear()
        os.close(self._go_read)
        os.close(self._go_write)

    def kill_records(self) -> list[dict[str, Any]]:
        """A ``killed`` record for each worker this supervisor killed."""
        return [killed(pid, at) for pid, at in self.deaths.items()]


def _worker_process(plan: WorkerPlan, open_queue: Callable[[], Any], report_fd: int,
                    go_fd: int | None) -> None:
    """The body of a worker process: wait for the start, run, and exit without cleanup."""
    try:
        if go_fd is not None:
            start_at = int.from_bytes(os.read(go_fd, 8), "big")
            while time.monotonic_ns() < start_at:
                pass
        code = run_worker(plan, open_queue, Recorder(plan.process, PipeSink(report_fd)))
        log.debug("%s %d finished", plan.role, plan.process)
        os._exit(code)
    except BaseException:
        log.exception("worker %s crashed", plan.process)
    os._exit(WORKER_CRASHED)


@contextlib.contextmanager
def gathered_worker_logs(enabled: bool) -> Iterator[None]:
    """Gather the workers' log records into this process's handlers while inside, if
    ``enabled`` (``multiprocessing-logging``; a worker killed while holding its queue's lock
    would hang the others, so runs with kills leave it off)."""
    if not enabled:
        yield
        return
    multiprocessing_logging.install_mp_handler()
    try:
        yield
    finally:
        root = logging.getLogger()
        wrapped = [h for h in root.handlers
                   if isinstance(h, multiprocessing_logging.MultiProcessingHandler)]
        multiprocessing_logging.uninstall_mp_handler()
        for handler in wrapped:
            handler.close()


def split_quota(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal whole shares, larger ones first."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]
