"""The stress run: many OS processes on one queue, every operation recorded with its times.

Producers put unique values, consumers take items until the producers are done and the queue
is empty, readers call ``size()`` as the Pod's monitor does. Consumers take with ``get()``
(``at-most-once``) or with ``claim()`` then ``ack()``, or now and then ``nack()``
(``at-least-once``). Every worker reports each
operation twice over one pipe (before the call, after it returns) in single ``write`` calls,
which a SIGKILL cannot split. An operation a killed worker had begun but not finished becomes
an ``info`` record. After the workers, the harness drains the queue itself and opens it once
more, so that a queue left lost or unreadable shows in the history.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import random
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_for_sentinels
from pathlib import Path
from typing import Any

import multiprocessing_logging

from queue_core import ClaimError

from .backends import CLAIMING, open_backend

log = logging.getLogger("harness.workers")
_fork = multiprocessing.get_context("fork")
_ERROR_CHARS = 300
AT_MOST_ONCE, AT_LEAST_ONCE = "at-most-once", "at-least-once"
DELIVERY_MODES = (AT_MOST_ONCE, AT_LEAST_ONCE)


@dataclass(frozen=True)
class StressConfig:
    """What to run: how many processes of each role, how many items, which queue, which faults."""

    producers: int = 4
    consumers: int = 4
    items: int = 10_000
    readers: int = 1
    duration: float | None = None
    backend: str = "filequeue"
    fsync: bool = False
    kill_every_ms: float | None = None
    seed: int = 0
    timeout: float = 300.0
    #: Create the queue before the workers start; otherwise they all create it at once.
    precreate: bool = False
    delivery: str = AT_MOST_ONCE
    #: at-least-once: the claims' lease in seconds, and the share of claims given back.
    lease: float = 0.5
    nack_fraction: float = 0.02

    def __post_init__(self) -> None:
        if self.delivery not in DELIVERY_MODES:
            raise ValueError(f"delivery must be {' or '.join(DELIVERY_MODES)}, "
                             f"not {self.delivery!r}")
        if self.delivery == AT_LEAST_ONCE and self.backend not in CLAIMING:
            raise ValueError(f"backend {self.backend!r} has no claim/ack; at-least-once "
                             f"delivery needs one of {', '.join(sorted(CLAIMING))}")


@dataclass
class StressRun:
    """What happened: the history and the facts about the run that the history does not hold."""

    config: StressConfig
    history: list[dict[str, Any]]
    wall_seconds: float
    kills: int = 0
    worker_failures: list[str] = field(default_factory=list)
    failure: str | None = None


@dataclass
class _Worker:
    role: str
    slot: int
    pid: int
    process: Any


class _Collector(threading.Thread):
    """Turns the workers' reports into history records as they arrive."""

    def __init__(self, read_fd: int) -> None:
        super().__init__(name="history-collector", daemon=True)
        self.read_fd = read_fd
        self.records: list[dict[str, Any]] = []
        self.pending: dict[int, tuple[str, int, Any]] = {}
        self.invoked_by: Counter[int] = Counter()
        self.seen_values: set[Any] = set()
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
        os.write(write_fd, b"F\t0\n")
        if not self._caught_up.wait(timeout=10):
            log.warning("the history collector did not catch up within 10 s")

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
        record = {"process": pid, "op": op, "value": sent if op == "put" else json.loads(value),
                  "type": outcome, "call": call, "return": int(returned)}
        if outcome == "fail":
            record["error"] = json.loads(error)
            self.live_violations += 1
        elif op == "get" and record["value"] is not None:
            key = json.dumps(record["value"])
            if key in self.seen_values:
                self.live_violations += 1
            self.seen_values.add(key)
        self.records.append(record)

    def crashed(self, deaths: dict[int, int]) -> list[dict[str, Any]]:
        """``info`` records for the operations that workers began and never finished."""
        return [
            {"process": pid, "op": op, "value": value, "type": "info", "call": call,
             "return": deaths.get(pid)}
            for pid, (op, call, value) in self.pending.items()
        ]


def _worker_main(
    role: str, pid: int, quota: int, config: StressConfig, queue_path: Path,
    markers: dict[str, Path], report_fd: int, go_fd: int | None, seed: int,
) -> None:
    def report(line: str) -> None:
        os.write(report_fd, line.encode())

    def record(op: str, call: Callable[[], Any], value: Any = None,
               show: Callable[[Any], Any] | None = None) -> tuple[bool, Any]:
        began = time.monotonic_ns()
        report(f"I\t{pid}\t{op}\t{began}\t{json.dumps(value)}\n")
        try:
            result = call()
        except Exception as error:
            text = f"{type(error).__name__}: {error}"[:_ERROR_CHARS]
            report(f"C\t{pid}\tfail\t{time.monotonic_ns()}\tnull\t{json.dumps(text)}\n")
            return False, None
        shown = show(result) if show is not None else None if op == "open" else result
        report(f"C\t{pid}\tok\t{time.monotonic_ns()}\t{json.dumps(shown)}\tnull\n")
        return True, result

    if go_fd is not None:
        # Every first-generation worker starts at one instant, so that they all race to
        # create the queue as containers starting together do.
        start_at = int.from_bytes(os.read(go_fd, 8), "big")
        while time.monotonic_ns() < start_at:
            pass
    rng = random.Random(seed)
    ok, queue = record("open", lambda: open_backend(config.backend, queue_path, config.fsync))
    if not ok:
        os._exit(3)
    if role == "producer":
        for n in range(quota):
            if markers["stop"].exists():
                break
            value = f"w{pid}:{n}"
            if not record("put", lambda v=value: queue.put(v), value)[0]:
                os._exit(3)
    elif role == "consumer" and config.delivery == AT_LEAST_ONCE:
        while True:
            producers_done = markers["done"].exists()
            ok, claim = record("claim", lambda: queue.claim(config.lease), show=claim_view)
            if not ok:
                os._exit(3)
            if claim is None:
                if producers_done:
                    break
                time.sleep(rng.uniform(0, 0.001))
                continue
            op = "nack" if rng.random() < config.nack_fraction else "ack"
            settle = queue.nack if op == "nack" else queue.ack
            sent = {"item": claim.item, "id": claim.id}
            if not record(op, lambda c=claim, s=settle: settled(s, c), sent)[0]:
                os._exit(3)
    elif role == "consumer":
        while True:
            producers_done = markers["done"].exists()
            ok, item = record("get", queue.get)
            if not ok:
                os._exit(3)
            if item is None:
                if producers_done:
                    break
                time.sleep(rng.uniform(0, 0.001))  # back off an empty queue, not a sync
    else:
        while not markers["done"].exists():
            if not record("size", queue.size)[0]:
                os._exit(3)
            time.sleep(0.001)
    log.debug("%s %d finished", role, pid)
    os._exit(0)


def claim_view(claim: Any) -> dict[str, Any] | None:
    """A claim as the history records it."""
    if claim is None:
        return None
    return {"item": claim.item, "id": claim.id, "attempt": claim.attempt,
            "at": claim.claimed_at, "until": claim.until}


def settled(action: Callable[[Any], None], claim: Any) -> dict[str, Any]:
    """Ack or nack ``claim``: the history's value, with ``ended`` if the queue refused it."""
    outcome = {"item": claim.item, "id": claim.id}
    try:
        action(claim)
    except ClaimError:
        outcome["ended"] = True
    return outcome


def _spawn_target(*args: Any) -> None:
    try:
        _worker_main(*args)
    except BaseException:
        log.exception("worker %s crashed", args[1])
    os._exit(4)


def run_stress(
    config: StressConfig,
    workdir: Path,
    progress: Callable[[int, int, int], None] | None = None,
) -> StressRun:
    """Run ``config`` against a new queue in ``workdir``; the history, drained at the end.

    ``progress(operations, kills, violations_so_far)`` is called about twice a second.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    queue_path = workdir / "queue" / "tasks.json"
    shutil.rmtree(queue_path.parent, ignore_errors=True)  # a queue left by an earlier run
    queue_path.parent.mkdir(parents=True)
    markers = {"stop": workdir / "stop-producing", "done": workdir / "producers-done"}
    for marker in markers.values():
        marker.unlink(missing_ok=True)
    rng = random.Random(config.seed)
    if config.precreate:
        open_backend(config.backend, queue_path, config.fsync)
    read_fd, report_fd = os.pipe()
    go_read, go_write = os.pipe()
    collector = _Collector(read_fd)
    collector.start()
    use_mp_logging = config.kill_every_ms is None
    if use_mp_logging:
        multiprocessing_logging.install_mp_handler()
    next_pid = 0
    deaths: dict[int, int] = {}
    quotas = _split(config.items, config.producers)
    slot_pids: dict[int, list[int]] = {slot: [] for slot in range(config.producers)}
    alive: dict[int, _Worker] = {}
    run = StressRun(config, [], 0.0)

    def spawn(role: str, slot: int, quota: int, wait_for_go: bool) -> None:
        nonlocal next_pid
        next_pid += 1
        args = (role, next_pid, quota, config, queue_path, markers, report_fd,
                go_read if wait_for_go else None, rng.getrandbits(32))
        process = _fork.Process(target=_spawn_target, args=args, daemon=True)
        process.start()
        alive[next_pid] = _Worker(role, slot, next_pid, process)
        if role == "producer":
            slot_pids[slot].append(next_pid)

    started = time.monotonic()
    try:
        for slot, quota in enumerate(quotas):
            spawn("producer", slot, quota, True)
        for slot in range(config.consumers):
            spawn("consumer", slot, 0, True)
        for slot in range(config.readers):
            spawn("reader", slot, 0, True)
        start_at = time.monotonic_ns() + 20_000_000
        os.write(go_write, start_at.to_bytes(8, "big") * len(alive))
        started = start_at / 1e9  # the same clock as time.monotonic(), in seconds
        _supervise(config, alive, spawn, markers, deaths, run, collector, report_fd, quotas,
                   slot_pids, rng, started, progress)
    finally:
        for worker in alive.values():
            worker.process.kill()
            worker.process.join()
        if use_mp_logging:
            _uninstall_mp_logging()
        os.close(report_fd)
        os.close(go_read)
        os.close(go_write)
        collector.join()
    run.wall_seconds = time.monotonic() - started
    history = collector.records + collector.crashed(deaths) + _kill_records(deaths)
    drain = _drain_claims if config.delivery == AT_LEAST_ONCE else _drain
    history += drain(config, queue_path, len(collector.records) + 10)
    history.sort(key=lambda op: op["call"])
    run.history = history
    return run


def _supervise(config, alive, spawn, markers, deaths, run, collector, report_fd, quotas,
               slot_pids, rng, started, progress) -> None:
    kill_gap = None if config.kill_every_ms is None else config.kill_every_ms / 1000
    next_kill = None if kill_gap is None else started + rng.uniform(0.5, 1.5) * kill_gap
    next_progress = started + 0.5
    done = False
    while True:
        now = time.monotonic()
        if now - started > config.timeout:
            run.failure = (f"the run did not finish within {config.timeout:g} s "
                           "(a worker hung, or the queue stopped making progress)")
            return
        if config.duration is not None and now - started >= config.duration:
            markers["stop"].touch()
        for pid, worker in list(alive.items()):
            if worker.process.exitcode is not None:
                del alive[pid]
                if worker.process.exitcode != 0:
                    run.worker_failures.append(
                        f"{worker.role} {pid} exited with code {worker.process.exitcode}")
        if not done and not any(w.role == "producer" for w in alive.values()):
            markers["done"].touch()
            done = True
        if done and not alive:
            return
        if next_kill is not None and now >= next_kill:
            # Consumers are killed until they finish, producers until they are done.
            victim = rng.choice([w for w in alive.values() if w.role != "reader"] or [None])
            if victim is not None:
                victim.process.kill()
                victim.process.join()
                deaths[victim.pid] = time.monotonic_ns()
                del alive[victim.pid]
                run.kills += 1
                quota = 0
                if victim.role == "producer":
                    collector.catch_up(report_fd)  # count every put the victim began
                    with collector.lock:
                        used = sum(collector.invoked_by[p] - 1 for p in slot_pids[victim.slot])
                    quota = max(0, quotas[victim.slot] - used)
                spawn(victim.role, victim.slot, quota, False)
            next_kill = now + rng.uniform(0.5, 1.5) * kill_gap
        if progress is not None and now >= next_progress:
            with collector.lock:
                progress(len(collector.records), run.kills, collector.live_violations)
            next_progress = now + 0.5
        timeout = 0.1 if next_kill is None else max(0.0, min(0.1, next_kill - now))
        wait_for_sentinels([w.process.sentinel for w in alive.values()], timeout)


def _kill_records(deaths: dict[int, int]) -> list[dict[str, Any]]:
    return [{"process": pid, "op": "killed", "value": None, "type": "ok", "call": at,
             "return": at} for pid, at in deaths.items()]


class _DrainRecorder:
    """Runs the drain's operations in this process, recording each one."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def __call__(self, op: str, call: Callable[[], Any], value: Any = None,
                 show: Callable[[Any], Any] | None = None) -> tuple[bool, Any]:
        began = time.monotonic_ns()
        try:
            result = call()
        except Exception as error:
            self.records.append({"process": "drain", "op": op, "value": value, "type": "fail",
                                 "call": began, "return": time.monotonic_ns(),
                                 "error": f"{type(error).__name__}: {error}"[:_ERROR_CHARS]})
            return False, None
        shown = show(result) if show is not None else None if op == "open" else result
        self.records.append({"process": "drain", "op": op, "value": shown, "type": "ok",
                             "call": began, "return": time.monotonic_ns()})
        return True, result


def _drain(config: StressConfig, queue_path: Path, limit: int) -> list[dict[str, Any]]:
    """Take every item left in the queue, then open it afresh: both recorded as operations."""
    record = _DrainRecorder()

    def reopen() -> Any:
        return open_backend(config.backend, queue_path, config.fsync)

    ok, queue = record("open", reopen)
    if not ok:
        return record.records
    for _ in range(limit):
        ok, item = record("get", queue.get)
        if not ok or item is None:
            break
    record("open", reopen)
    return record.records


#: The drain looks at the queue this far in the future, so that every lease has ended.
DRAIN_CLOCK_SHIFT = 3600.0


def _drain_claims(config: StressConfig, queue_path: Path, limit: int) -> list[dict[str, Any]]:
    """Claim and ack every item left, leases of killed consumers included; record the dead
    letters; open the queue afresh."""
    record = _DrainRecorder()

    def reopen() -> Any:
        return open_backend(config.backend, queue_path, config.fsync,
                            clock=lambda: time.time() + DRAIN_CLOCK_SHIFT)

    ok, queue = record("open", reopen)
    if not ok:
        return record.records
    for _ in range(limit):
        ok, claim = record("claim", lambda: queue.claim(config.lease), show=claim_view)
        if not ok or claim is None:
            break
        record("ack", lambda c=claim: settled(queue.ack, c), {"item": claim.item, "id": claim.id})
    record("dead", lambda: [d.item for d in queue.dead()])
    record("open", reopen)
    return record.records


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _uninstall_mp_logging() -> None:
    root = logging.getLogger()
    wrapped = [
        h for h in root.handlers
        if isinstance(h, multiprocessing_logging.MultiProcessingHandler)
    ]
    multiprocessing_logging.uninstall_mp_handler()
    for handler in wrapped:
        handler.close()
