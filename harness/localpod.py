"""The Pod's containers as local processes sharing one directory, and the check of their work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from queue_core.contracts import TASK_COMPLETED, TASK_PUT
from queue_core.roles import consumer, monitor, producer
from queue_core.roles.results import summarize_results
from queue_core.roles.settings import environment_name

from .interrupt import StopRequest

#: How many of a failed role's last lines a verdict shows.
LAST_LINES = 5


@dataclass
class RoleProcess:
    """One container of the Pod: its name, its process and every line it printed."""

    name: str
    module: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None
    stopped_in: float | None = None


class LocalPod:
    """The producer, the consumers and the monitor as processes on this machine.

    They share ``workdir/shared-queue`` and ``workdir/shared-results`` as the Pod's
    containers share their emptyDir volumes; each consumer gets its own ``WORKER_ID``.
    ``env`` is added to every role's environment, ``producer_env`` to the producer's.
    ``on_report`` is called with each monitor report as it arrives.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        consumers: int = 2,
        time_scale: float = 0.01,
        env: Mapping[str, str] | None = None,
        producer_env: Mapping[str, str] | None = None,
        on_report: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.queue_file = self.workdir / "shared-queue" / "tasks.json"
        self.results_dir = self.workdir / "shared-results"
        self.consumers = consumers
        self.time_scale = time_scale
        self.extra_env = dict(env or {})
        self.producer_env = dict(producer_env or {})
        self.on_report = on_report
        self.roles: dict[str, RoleProcess] = {}
        self.produced: list[str] = []
        self.completed: Counter[str] = Counter()
        self.reports: list[dict[str, Any]] = []
        self._changed = threading.Condition()

    def role_environment(self, name: str) -> dict[str, str]:
        """The environment the role ``name`` runs with."""
        env = dict(os.environ)
        env.update({
            environment_name(producer.SETTINGS, "--queue-file"): str(self.queue_file),
            environment_name(consumer.SETTINGS, "--results-dir"): str(self.results_dir),
            environment_name(producer.SETTINGS, "--time-scale"): str(self.time_scale),
            environment_name(monitor.SETTINGS, "--json"): "1",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        if name.startswith("consumer"):
            env[environment_name(consumer.SETTINGS, "--worker-id")] = name
        if name == "producer":
            env.update(self.producer_env)
        return env

    def start(self) -> None:
        """Start every role: the monitor and the consumers first, then the producer."""
        names = ["monitor", *(f"consumer-{i}" for i in range(1, self.consumers + 1)), "producer"]
        for name in names:
            module = "queue_core.roles." + name.split("-")[0]
            process = subprocess.Popen(
                [sys.executable, "-m", module],
                env=self.role_environment(name),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
            )
            role = RoleProcess(name, module, process)
            role.reader = threading.Thread(target=self._read, args=(role,), daemon=True)
            role.reader.start()
            self.roles[name] = role

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``condition()`` holds or ``timeout`` passes; checked at each line printed."""
        with self._changed:
            return self._changed.wait_for(condition, timeout)

    def failed_roles(self) -> list[str]:
        """The roles that have exited with a code other than 0."""
        return [r.name for r in self.roles.values() if r.process.poll() not in (None, 0)]

    def all_produced_completed(self) -> bool:
        """True when every task put so far has been completed at least once."""
        return bool(self.produced) and all(self.completed[i] for i in self.produced)

    def stop(self, names: list[str] | None = None, timeout: float = 5.0) -> dict[str, int | None]:
        """SIGTERM the named roles (default all) and wait; their exit codes, None if one hung."""
        chosen = [self.roles[n] for n in (names or list(self.roles))]
        started = time.monotonic()
        for role in chosen:
            if role.process.poll() is None:
                role.process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for role in chosen:
            try:
                codes[role.name] = role.process.wait(max(0.0, started + timeout - time.monotonic()))
                role.stopped_in = time.monotonic() - started
            except subprocess.TimeoutExpired:
                role.process.kill()
                role.process.wait()
                codes[role.name] = None
            if role.reader is not None:
                role.reader.join()
        return codes

    def _read(self, role: RoleProcess) -> None:
        assert role.process.stdout is not None
        for raw in role.process.stdout:
            line = raw.rstrip("\n")
            with self._changed:
                role.lines.append(line)
                self._parse(role, line)
                self._changed.notify_all()

    def _parse(self, role: RoleProcess, line: str) -> None:
        if role.name == "monitor" and line.startswith("{"):
            try:
                report = json.loads(line)
            except ValueError:
                return
            self.reports.append(report)
            if self.on_report is not None:
                self.on_report(report)
        elif role.name == "producer" and (event := TASK_PUT.parse(line)):
            self.produced.append(event["id"])
        elif role.name.startswith("consumer") and (event := TASK_COMPLETED.parse(line)):
            self.completed[event["id"]] += 1


@dataclass
class PodVerdict:
    """Whether every produced task has exactly one result, and what is wrong if not."""

    produced: int
    results: int
    missing: list[str]
    duplicated: list[str]
    unexpected: list[str]
    unreadable: int
    by_worker: dict[str, int]
    exit_codes: dict[str, int | None]
    #: The last lines of each role that did not exit 0: its own words on what went wrong.
    role_output: dict[str, list[str]] = field(default_factory=dict)

    @property
    def certain_violations(self) -> bool:
        """True for what no interruption explains: a task done twice, results never asked for,
        unreadable results."""
        return bool(self.duplicated or self.unexpected or self.unreadable)

    @property
    def valid(self) -> bool:
        clean_exits = all(code == 0 for code in self.exit_codes.values())
        return clean_exits and not (
            self.missing or self.duplicated or self.unexpected or self.unreadable
        )

    def describe(self) -> str:
        """A few lines a person can read."""
        lines = [
            f"produced {self.produced} tasks, found {self.results} result files "
            f"({', '.join(f'{w}: {n}' for w, n in sorted(self.by_worker.items())) or 'none'})",
        ]
        for label, ids in (("missing results", self.missing), ("processed twice", self.duplicated),
                           ("results for tasks never produced", self.unexpected)):
            if ids:
                lines.append(f"{label}: {len(ids)} (ids {', '.join(ids[:10])})")
        if self.unreadable:
            lines.append(f"unreadable result files: {self.unreadable}")
        bad = {name: code for name, code in self.exit_codes.items() if code != 0}
        if bad:
            lines.append("roles that did not exit 0 on SIGTERM: "
                         + ", ".join(f"{n} ({c})" for n, c in sorted(bad.items())))
        for name, output in sorted(self.role_output.items()):
            lines.extend(f"  {name}: {line}" for line in output)
        lines.append("verdict: " + ("VALID" if self.valid else "INVALID"))
        return "\n".join(lines)


def verify_pod(pod: LocalPod, exit_codes: dict[str, int | None]) -> PodVerdict:
    """Compare what the producer put with the result files and the consumers' logs."""
    summary = summarize_results(pod.results_dir)
    result_ids = Counter(str(task_id) for task_id in summary.task_ids)
    produced = set(pod.produced)
    return PodVerdict(
        produced=len(pod.produced),
        results=summary.completed,
        missing=sorted((produced - set(result_ids)), key=_id_order),
        duplicated=sorted((i for i, n in pod.completed.items() if n > 1), key=_id_order),
        unexpected=sorted((set(result_ids) - produced), key=_id_order),
        unreadable=summary.unreadable,
        by_worker=dict(summary.by_worker),
        exit_codes=exit_codes,
        role_output={name: pod.roles[name].lines[-LAST_LINES:]
                     for name, code in exit_codes.items() if code != 0},
    )


def run_pod(
    workdir: Path,
    *,
    duration: float,
    time_scale: float,
    consumers: int = 2,
    drain_timeout: float = 60.0,
    say: Callable[[str], None] | None = None,
    stop: StopRequest | None = None,
) -> PodVerdict:
    """Run the Pod for ``duration`` s, let the consumers finish the backlog, stop it, check it.

    A role that fails ends the run at once; so does a ``stop`` request. Every role is stopped
    with SIGTERM before this returns, whatever happens.
    """
    from queue_core.roles.monitor import format_report

    def show(report: dict[str, Any]) -> None:
        if say is not None:
            say("monitor: " + format_report(report))

    def ended() -> bool:
        return bool(pod.failed_roles()) or (stop is not None and stop.requested)

    pod = LocalPod(workdir, consumers=consumers, time_scale=time_scale,
                   producer_env={environment_name(producer.SETTINGS, "--duration"): str(duration)},
                   on_report=show)
    pod.start()
    try:
        producer_done = pod.roles["producer"].process.poll
        _wait(pod, lambda: producer_done() is not None or ended(), duration + 10.0)
        codes = pod.stop(["producer"])
        if not ended():
            _wait(pod, lambda: pod.all_produced_completed() or ended(), drain_timeout)
        codes.update(pod.stop())
    finally:
        pod.stop()
    return verify_pod(pod, codes)


def _wait(pod: LocalPod, condition: Callable[[], bool], timeout: float) -> bool:
    """Wait until ``condition()`` holds or ``timeout`` passes, looking at least every 0.1 s
    (a signal or an exit prints no line)."""
    deadline = time.monotonic() + timeout
    while not condition():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        pod.wait_until(condition, min(left, 0.1))
    return True


def _id_order(task_id: str) -> tuple[int, str]:
    return (int(task_id), "") if task_id.isdigit() else (sys.maxsize, task_id)
