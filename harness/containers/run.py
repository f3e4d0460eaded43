"""A stress run whose producers and consumers are containers: start them on a platform, kill
one now and then (its restart policy brings it back), drain the queue through one more
container, and make one history of every container's history file."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..backends.builtin import CONTAINED
from ..errors import HistoryError, PlatformError
from ..flags import to_argv
from ..history.collector import live_counts
from ..history.format import CLOCK, WORKER, killed
from ..history.recorder import records_from_lines
from ..interrupt import StopRequest
from ..stress.config import StressConfig, for_workers
from ..stress.progress import Advance, Progress
from ..stress.run import StressRun
from ..stress.schedule import Choices, next_kill_after, split_quota
from .inside import DRAIN_HISTORY, HISTORY_SUFFIX, HISTORY_UNWRITABLE, MARKER_UNREADABLE
from .placement import ENTRY, SHARED_MOUNT, Placement
from .platform import Collected, NodeTime, Platform, WorkerContainer

#: Seconds between two progress reports.
PROGRESS_SECONDS = 2.0
#: Seconds each start of a container works before it may be killed again.
MIN_UPTIME = 1.0


def refuse_unless_containable(config: StressConfig) -> None:
    """``ValueError`` for a run that cannot go into containers as asked: the queue must be
    one whose code ships with the worker (this project's, the original's, the selftest's
    lock and order mutants)."""
    if config.backend not in CONTAINED:
        raise ValueError(f"the backend {config.backend} does not ship into containers; "
                         f"choose from {', '.join(CONTAINED)}")
    if config.faults:
        raise ValueError("storage faults are injected into local runs only (drop --faults)")
    if config.tamper:
        raise ValueError("tampering is done to local runs only (drop --tamper)")
    if config.precreate:
        raise ValueError("--precreate applies to local runs only: the containers create the "
                         "queue together")


def worker_containers(config: StressConfig, placement: Placement) -> list[WorkerContainer]:
    """One container per producer, consumer and reader of ``config``, each with its command."""
    common = ["--shared", SHARED_MOUNT, *to_argv(config, for_workers)]
    common += ["--umask", "002"] if placement.users else []
    roles = [("producer", quota) for quota in split_quota(config.items, config.producers)]
    roles += [("consumer", 0)] * config.consumers + [("reader", 0)] * config.readers
    workers, slots = [], defaultdict(int)
    for index, (role, quota) in enumerate(roles):
        slot = slots[role]
        slots[role] += 1
        name = f"{role}-{slot + 1}"
        command = (*ENTRY, "worker", "--name", name, "--role", role, "--slot", str(slot),
                   "--quota", str(quota), *common)
        workers.append(WorkerContainer(name, role, slot, command, placement.user(index)))
    return workers


def drain_command(config: StressConfig, limit: int) -> tuple[str, ...]:
    """The command of the container that drains the queue at the end."""
    return (*ENTRY, "drain", "--shared", SHARED_MOUNT, *to_argv(config, for_workers),
            "--limit", str(limit))


class ContainerRun:
    """Watches the worker containers of one run: kills, markers, progress, the end."""

    def __init__(self, config: StressConfig, platform: Platform,
                 workers: list[WorkerContainer]) -> None:
        self.config = config
        self.platform = platform
        self.workers = workers
        self.choices = Choices(config.seed)
        #: Each container's kills, on its node's clock.
        self.kills: dict[str, list[NodeTime]] = defaultdict(list)
        self.kill_log: list[dict[str, Any]] = []
        self.started = 0.0
        #: Each container's starts as last seen, and when the harness first saw the last one.
        self.starts: dict[str, tuple[int, float]] = {}
        #: How many starts each container had when it was last killed.
        self.starts_at_kill: dict[str, int] = {}

    def supervise(self, progress: Progress | None, stop: StopRequest | None) -> str | None:
        """Kill a worker now and then until every worker has ended by itself; ``None``, or why
        the run was abandoned (a timeout, a stop request)."""
        config = self.config
        gap = None if config.kill_every_ms is None else config.kill_every_ms / 1000
        self.started = time.monotonic()
        next_kill = None if gap is None else self.started + self.choices.kill_gap(gap)
        next_progress = self.started + PROGRESS_SECONDS
        producers = {w.name for w in self.workers if w.role == "producer"}
        producers_done = duration_over = False
        while True:
            now = time.monotonic()
            if stop is not None and stop.requested:
                return stop.reason
            if now - self.started > config.timeout:
                return (f"timed out: the run did not finish within {config.timeout:g} s "
                        "(a container hung, or the queue stopped making progress)")
            if (not duration_over and config.duration is not None
                    and now - self.started >= config.duration):
                self.platform.touch("stop-producing")
                duration_over = True
            status = self.platform.status()
            finished = status.finished
            self.note_starts(status.starts(), now)
            if not producers_done and producers <= finished.keys():
                self.platform.touch("producers-done")
                producers_done = True
            if len(finished) == len(self.workers):
                return None
            if next_kill is not None and now >= next_kill:
                if producers_done:  # kills end with the production: see kill_one
                    next_kill = None
                else:
                    self.kill_one(finished, next_kill)
                    next_kill = next_kill_after(next_kill, self.choices.kill_gap(gap))
            if progress is not None and now >= next_progress:
                progress(self.advance())
                next_progress = now + PROGRESS_SECONDS
            poll = self.platform.poll_seconds
            time.sleep(poll if next_kill is None
                       else max(0.0, min(poll, next_kill - time.monotonic())))

    def advance(self) -> Advance:
        """How far the run has come, from the history files so far: operations, items taken,
        kills, and violations already certain (an operation that raised, a value got twice)."""
        operations = taken = violations = 0
        got: set[str] = set()
        for text in self.platform.collect().histories.values():
            try:
                records = records_from_lines(None, text.splitlines()[:-1])  # whole lines
            except HistoryError:
                continue  # the end of the run says so
            for record in records:
                operations += 1
                more_taken, more_violations = live_counts(record, got)
                taken += more_taken
                violations += more_violations
        return Advance(operations, taken, len(self.kill_log), violations)

    def note_starts(self, starts: dict[str, int], now: float) -> None:
        """Remember when each container was first seen in its latest start."""
        for name, count in starts.items():
            if self.starts.get(name, (0, 0.0))[0] != count:
                self.starts[name] = (count, now)

    def killable(self, worker: WorkerContainer, finished: dict[str, int], now: float) -> bool:
        """True for a worker still working that has come back since its last kill and has
        worked ``MIN_UPTIME`` seconds since."""
        count, seen = self.starts.get(worker.name, (0, now))
        return (worker.name not in finished and count > self.starts_at_kill.get(worker.name, 0)
                and now - seen >= MIN_UPTIME)

    def kill_one(self, finished: dict[str, int], scheduled: float) -> None:
        """SIGKILL the worker of a random producer or consumer container that is killable at
        ``scheduled`` (the kill's instant on the ``time.monotonic()`` clock).

        Kills happen while the producers produce, not after, and each start of a container
        works at least ``MIN_UPTIME`` seconds: a restart policy backs off a container killed
        again and again (Docker up to a minute, Kubernetes up to five), so workers killed as
        soon as they come back would never finish."""
        now = scheduled
        candidates = [w for w in self.workers if w.role != "reader"]
        slots = [(w.role, w.slot) for w in candidates]
        drawn, victim = self.choices.victim(
            slots, [w for w in candidates if self.killable(w, finished, now)])
        if victim is None:
            return
        killed = self.platform.kill(victim)
        if killed is None:
            return
        self.starts_at_kill[victim.name] = self.starts.get(victim.name, (0, now))[0]
        self.kills[victim.name].append(killed)
        self.kill_log.append({"at_s": round(scheduled - self.started, 6), "drawn": list(drawn),
                              "role": victim.role, "slot": victim.slot,
                              "container": victim.name})


def run_in_containers(config: StressConfig, placement: Placement, platform: Platform,
                      progress: Progress | None = None, stop: StopRequest | None = None,
                      keep_history_in: Path | None = None) -> StressRun:
    """Run ``config`` with every worker in a container of ``platform``; the history of every
    container, with the drain's, as a ``StressRun``. Everything the platform created is removed
    unless ``placement.keep``."""
    refuse_unless_containable(config)
    workers = worker_containers(config, placement)
    watch = ContainerRun(config, platform, workers)
    run = StressRun(config, [], 0.0)
    watch.started = time.monotonic()
    try:
        platform.start(workers)
        platform.touch("go")
        run.failure = watch.supervise(progress, stop)
        run.wall_seconds = time.monotonic() - watch.started
        platform.stop_workers()
        stopped_at = _node_clock(platform, run)  # no worker runs after this
        if run.failure is None:
            try:
                platform.run_drain(drain_command(config, limit=10 * config.items + 1000))
            except PlatformError as error:
                run.failure = f"the drain failed: {error}"
        collected = platform.collect()
    finally:
        platform.remove()
    try:
        run.history = history_of(collected, watch.kills, stopped_at)
    except HistoryError as error:
        run.failure = f"a history file is damaged, so no verdict is given: {error}"
    run.kills, run.kill_log = len(watch.kill_log), watch.kill_log
    run.worker_failures = [f"{name} {ending(code)}"
                           for name, code in sorted(collected.finished.items()) if code != 0]
    run.stopped_by = None if stop is None else stop.signum
    run.placement = {**platform.describe(), "restarts": restarts(collected),
                     "users": list(placement.users), "flags": placement.flags()}
    if keep_history_in is not None:
        from ..history.files import encode_lines

        keep_history_in.write_text("".join(encode_lines(run.history)), encoding="utf-8")
    return run


def ending(code: int) -> str:
    """How a worker that ended with ``code`` ended, in words."""
    if code == HISTORY_UNWRITABLE:
        return "stopped: its history file took no more (a full or failing volume)"
    if code == MARKER_UNREADABLE:
        return "ended, but its exit code could not be read"
    return f"exited with code {code}"


def restarts(collected: Collected) -> int:
    """How many times a worker container started again (one history file per start)."""
    return sum(count - 1 for count in collected.starts().values())


def _node_clock(platform: Platform, run: StressRun) -> NodeTime | None:
    """The node's clock now; None (and the run's failure says why) if it cannot be read."""
    try:
        return platform.node_clock()
    except PlatformError as error:
        run.failure = run.failure or f"the end of the run has no time: {error}"
        return None


def history_of(collected: Collected, kills: dict[str, list[NodeTime]],
               stopped_at: NodeTime | None) -> list[dict[str, Any]]:
    """One history from every container's file: a worker killed in an operation leaves an
    ``info`` record that ends at its kill (or at the end of the run), and a ``killed`` record;
    the drain's records as they are. In the order the operations were called. Every time is
    on the workers' node's clock: the kills' and the end's are read there, not here."""
    history: list[dict[str, Any]] = []
    by_container: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for file_name, text in collected.histories.items():
        if file_name == DRAIN_HISTORY:
            history += [json.loads(line) for line in text.splitlines() if line]
            continue
        container, start = file_name[:-len(HISTORY_SUFFIX)].rsplit(".", 1)
        by_container[container].append((int(start), text))
    end = None if stopped_at is None else stopped_at.ns
    for container, starts in by_container.items():
        deaths = iter(sorted(kills.get(container, []), key=lambda at: at.ns))
        for start, text in sorted(starts):
            process = f"{container}.{start}"
            records = records_from_lines(process, text.splitlines())
            began = records[0]["call"] if records else 0
            died = next((at for at in deaths if at.ns >= began), None)
            if died is not None:
                history.append({**killed(process, died.ns), CLOCK: died.clock,
                                WORKER: container})
            for record in records:
                record[WORKER] = container
                if record["type"] == "info":
                    record["return"] = died.ns if died is not None else end
            history += records
    history.sort(key=lambda op: op["call"])
    return history
