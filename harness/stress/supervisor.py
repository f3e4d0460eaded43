"""The supervisor: owns the worker processes of a run (spawn, reap, kill one and replace it,
stop them all), keeps the producers' quotas across replacements, and reports progress."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for_sentinels
from pathlib import Path
from typing import Any

import multiprocessing_logging

from ..history.collector import Collector
from ..history.format import killed
from ..history.recorder import PipeSink, Recorder
from ..interrupt import StopRequest, ignore_stop_signals_in_worker
from .progress import Advance, Progress
from .schedule import Choices
from .worker import WorkerPlan, run_worker

log = logging.getLogger("harness.stress.supervisor")
_fork = multiprocessing.get_context("fork")
#: A worker's exit code when it crashed in the harness's own code (not in a queue operation).
WORKER_CRASHED = 4
#: Seconds between the start signal and the instant every first worker starts at once.
START_DELAY_NS = 20_000_000



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
                 choices: Choices) -> None:
        self.crew = crew
        self.plan = plan
        self.open_queue = open_queue
        self.collector = collector
        self.report_fd = report_fd
        self.choices = choices
        self.alive: dict[int, Worker] = {}
        self.deaths: dict[int, int] = {}
        self.kills = 0
        #: Each kill: its planned time in seconds since the start, and the role, slot and
        #: process it hit.
        self.kill_log: list[dict[str, Any]] = []
        self.failures: list[str] = []
        self.slot_pids: dict[int, list[int]] = {slot: [] for slot in range(len(crew.quotas))}
        #: The worker whose place each process filled (``producer-1``): it and its
        #: replacements after kills.
        self.worker_of: dict[int, str] = {}
        self._generations: dict[tuple[str, int], int] = {}
        self._next_pid = 0
        self._started = 0.0
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
        self._started = start_at / 1e9
        return self._started

    def spawn(self, role: str, slot: int, quota: int, wait_for_go: bool = False) -> Worker:
        """Start one worker in ``slot``; a new process number, never reused."""
        self._next_pid += 1
        pid = self._next_pid
        generation = self._generations.get((role, slot), 0)
        self._generations[role, slot] = generation + 1
        plan = self.plan(role, pid, quota, self.choices.worker_seed(role, slot, generation))
        go_fd = self._go_read if wait_for_go else None
        process = _fork.Process(target=_worker_process, daemon=True,
                                args=(plan, self.open_queue, self.report_fd, go_fd, os.getpid()))
        process.start()
        worker = self.alive[pid] = Worker(role, slot, pid, process)
        self.worker_of[pid] = f"{role}-{slot + 1}"
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

    def kill_one(self, scheduled: float | None = None) -> None:
        """SIGKILL a random producer or consumer that has begun an operation since it opened
        the queue, and start its replacement; ``scheduled`` is the kill's planned instant
        (``time.monotonic()``), for the kill log. With none such, the kill is logged as
        skipped: a machine too slow for the rate asked would otherwise kill every replacement
        before it did anything, and the run would never end."""
        slots = [("producer", slot) for slot in range(len(self.crew.quotas))]
        slots += [("consumer", slot) for slot in range(self.crew.consumers)]
        with self.collector.lock:
            working = [w for w in self.alive.values()
                       if w.role != "reader" and self.collector.invoked_by[w.pid] >= 2]
        drawn, victim = self.choices.victim(slots, working)
        at = time.monotonic() if scheduled is None else scheduled
        if victim is None:
            self.kill_log.append({"at_s": round(at - self._started, 6), "drawn": list(drawn),
                                  "skipped": "no worker had begun an operation since its open"})
            return
        victim.process.kill()
        victim.process.join()
        self.deaths[victim.pid] = time.monotonic_ns()
        del self.alive[victim.pid]
        self.kills += 1
        self.kill_log.append({"at_s": round(at - self._started, 6), "drawn": list(drawn),
                              "role": victim.role, "slot": victim.slot, "process": victim.pid})
        quota = self._quota_left(victim.slot) if victim.role == "producer" else 0
        self.spawn(victim.role, victim.slot, quota)

    def _quota_left(self, slot: int) -> int:
        """What is left of the slot's quota: every put its workers began counts as used."""
        self.collector.catch_up(self.report_fd)
        with self.collector.lock:
            # Each worker's first operation is its open.
            used = sum(max(0, self.collector.invoked_by[p] - 1) for p in self.slot_pids[slot])
        return max(0, self.crew.quotas[slot] - used)

    def wait(self, timeout: float) -> None:
        """Return when a worker exits, or after ``timeout`` seconds."""
        wait_for_sentinels([w.process.sentinel for w in self.alive.values()], timeout)

    def report_progress(self, progress: Progress) -> None:
        """Call ``progress`` with how far the run has come."""
        with self.collector.lock:
            advance = Advance(len(self.collector.records), self.collector.taken, self.kills,
                              self.collector.live_violations)
        progress(advance)

    def supervise(self, started: float, limits: Limits, progress: Progress | None = None,
                  stop: StopRequest | None = None) -> str | None:
        """Watch the workers from ``started`` until all have finished, killing one now and then
        (consumers until they finish, producers until they are done); ``None``, or why the run
        was abandoned (a timeout, or a stop request)."""
        gap = limits.kill_every
        next_kill = None if gap is None else started + self.choices.kill_gap(gap)
        next_progress = started + 0.5
        producers_done = False
        while True:
            now = time.monotonic()
            if stop is not None and stop.requested:
                return stop.reason
            if now - started > limits.timeout:
                return (f"timed out: the run did not finish within {limits.timeout:g} s "
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
                self.kill_one(scheduled=next_kill)
                next_kill += self.choices.kill_gap(gap)
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
                    go_fd: int | None, harness_pid: int) -> None:
    """The body of a worker process: wait for the start, run, and exit without cleanup."""
    try:
        ignore_stop_signals_in_worker()
        _die_with(harness_pid)
        if plan.config.faults:
            from ..disk.faults import install_faults

            install_faults(plan.config.faults, plan.config.fault_rate, plan.seed,
                           only_under=getattr(open_queue, "directory", None))
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


def _die_with(parent: int) -> None:
    """Have the kernel SIGKILL this process when ``parent`` dies (Linux), so that a harness
    killed without a chance to clean up leaves no worker behind; exit now if it is gone."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
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
