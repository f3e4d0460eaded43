"""The harness's side inside a container: a worker that runs where the queue runs, the final
drain, and what the harness outside asks of the shared volume.

Standard library, ``queue_core`` and the shipped harness modules only (``SHIPPED``): it runs
from a ConfigMap in a stock ``python:3.11-alpine``. Every path is under the shared volume
``--shared``:

- ``queue/``: the queue's files;
- ``history/NAME.N.jsonl``: the history of the N-th start of container NAME (``FileSink``);
  ``history/drain.jsonl``: the drain's records;
- ``finished/NAME``: the exit code of the worker of NAME once it ended by itself;
- ``pids/NAME``: the process id of the worker now running in NAME (in its pid namespace);
- ``go``, ``producers-done``, ``stop-producing``: the markers the harness outside creates
  (every worker waits for ``go``, so that they start together, as a Pod's containers do);
- ``heartbeat``: touched by the harness while it watches; a worker that finds it stopped (a
  minute old, unchanged for a minute, or removed: ``harness.stress.heartbeat``) ends by
  itself, so a harness killed outright leaves no container running for ever.

A container runs ``worker``: a keeper (the container's first process) that starts the worker
process, forwards SIGTERM to it, and ends the container with 128 + the signal when the worker
was killed (so the restart policy starts it again) or with 0 once it ended by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..backends.builtin import CONTAINED
from ..errors import HistoryUnwritable
from ..flags import add_flags, from_args
from ..history.format import AT_LEAST_ONCE, CLOCK
from ..history.recorder import FileSink, Recorder, clock_domain
from ..stress.config import StressConfig, for_workers
from ..stress.drain import drain_claims, drain_gets
from ..stress.heartbeat import Heartbeat
from ..stress.schedule import Choices
from ..stress.worker import FINISHED, WorkerPlan, run_worker

#: The harness modules a container needs besides ``queue_core`` (paths under ``harness/``).
SHIPPED = ("__init__.py", "errors.py", "flags.py", "containers/__init__.py",
           "containers/inside.py", "history/__init__.py", "history/format.py",
           "history/recorder.py", "stress/__init__.py", "stress/config.py",
           "stress/schedule.py", "stress/heartbeat.py", "stress/worker.py",
           "stress/drain.py",
           "backends/__init__.py", "backends/protocol.py", "backends/builtin.py",
           "backends/mutants.py", "backends/original.py")
#: The drain's history file, and the file name pattern of a worker's: NAME.N.jsonl.
DRAIN_HISTORY = "drain.jsonl"
HISTORY_SUFFIX = ".jsonl"
#: How often a worker looks for the ``go`` marker before its first operation.
GO_POLL_SECONDS = 0.002
#: What ``kill`` prints just before it kills: a caller whose ``exec`` ended with the container
#: knows from it that the kill was made.
KILLING = "killing"
#: ``kill``'s exit code when there was no worker to kill.
KILL_REFUSED = 1
#: The keeper's exit code when its worker process could not even start.
KEEPER_FAILED = 2
#: A worker's exit code when its history file did not take a report (a full disk).
HISTORY_UNWRITABLE = 5
#: The exit code reported for a finished marker that does not hold one.
MARKER_UNREADABLE = -1
#: Seconds between two tries of a marker that could not be written.
MARKER_RETRY_SECONDS = 0.5


class SharedVolume:
    """The layout of the shared volume, as seen from inside a container."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.queue = self.root / "queue"
        self.history = self.root / "history"
        self.finished = self.root / "finished"
        self.pids = self.root / "pids"
        self.producers_done = self.root / "producers-done"
        self.stop_producing = self.root / "stop-producing"
        self.go = self.root / "go"
        self.heartbeat = self.root / "heartbeat"
        #: The heartbeat as this process sees it.
        self.harness = Heartbeat(self.heartbeat)

    def wait_for_go(self) -> bool:
        """Wait until the harness has created the ``go`` marker: True, or False if the
        harness is gone (its heartbeat stopped)."""
        while not self.go.exists():
            if self.harness.stopped():
                return False
            time.sleep(GO_POLL_SECONDS)  # another machine's file: nothing to wait on but it
        return True

    def histories(self, names_only: bool = False) -> dict[str, str]:
        """Every history file's text (or ``""`` with ``names_only``), by file name."""
        if not self.history.is_dir():
            return {}
        return {path.name: "" if names_only else path.read_text(encoding="utf-8")
                for path in sorted(self.history.iterdir()) if not path.name.startswith(".")}

    def finished_codes(self) -> dict[str, int]:
        """The exit code of every worker that ended by itself, by container name
        (``MARKER_UNREADABLE`` for a marker that does not hold one)."""
        if not self.finished.is_dir():
            return {}
        codes = {}
        for path in self.finished.iterdir():
            if not path.name.startswith("."):
                try:
                    codes[path.name] = int(path.read_text())
                except (OSError, ValueError):
                    codes[path.name] = MARKER_UNREADABLE
        return codes

    def write_marker(self, path: Path, text: str) -> None:
        """Replace ``path`` with ``text`` in one step (a reader sees the old file or the whole
        new one), trying again while the volume refuses (a full disk) unless the harness is
        gone."""
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        while True:
            try:
                temporary.write_text(text)
                os.replace(temporary, path)
                return
            except OSError as error:
                print(f"cannot write {path} ({error.strerror}): trying again", file=sys.stderr)
                if self.harness.stopped():
                    return
                time.sleep(MARKER_RETRY_SECONDS)  # until the volume has room again

    def new_history(self, name: str) -> tuple[int, Path]:
        """Create the history file of this start of container ``name``: its number (0 for the
        first start) and its path. Never reuses a number, even across restarts."""
        self.history.mkdir(exist_ok=True)
        start = 0
        while True:
            path = self.history / f"{name}.{start}{HISTORY_SUFFIX}"
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            except FileExistsError:
                start += 1
                continue
            return start, path

    def puts_begun(self, name: str, before: int) -> int:
        """How many puts the starts of ``name`` numbered below ``before`` began."""
        begun = 0
        for start in range(before):
            path = self.history / f"{name}.{start}{HISTORY_SUFFIX}"
            with open(path, encoding="utf-8") as lines:
                begun += sum(1 for line in lines if line.startswith('["I", "put"'))
        return begun


def process_name(name: str, start: int) -> str:
    """The process name in the history of the ``start``-th start of container ``name``."""
    return f"{name}.{start}"


def _opener(config: StressConfig, volume: SharedVolume) -> Any:
    factory, _ = CONTAINED[config.backend]
    volume.queue.mkdir(exist_ok=True)
    return lambda **options: factory(volume.queue, fsync=config.fsync, options=options)


def work(args: argparse.Namespace) -> int:
    """One start of a worker: record every operation in a new history file; the exit code of
    ``harness.stress.worker.run_worker``."""
    volume = SharedVolume(args.shared)
    start, path = volume.new_history(args.name)
    process = process_name(args.name, start)
    quota = max(0, args.quota - volume.puts_begun(args.name, start))
    config = from_args(StressConfig, args)
    seed = Choices(config.seed).worker_seed(args.role, args.slot, start)
    plan = WorkerPlan(args.role, process, seed, config, quota, volume.stop_producing,
                      volume.producers_done, volume.harness)
    if not volume.wait_for_go():
        return FINISHED
    sink = FileSink(path)
    try:
        sink.note_clock(clock_domain())
        return run_worker(plan, _opener(config, volume), Recorder(process, sink))
    except HistoryUnwritable as error:
        print(f"{process} stops: {error}", file=sys.stderr)
        return HISTORY_UNWRITABLE
    finally:
        sink.close()


def keep(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run ``work`` in a child process and end as described in the module's docstring."""
    volume = SharedVolume(args.shared)
    for directory in (volume.finished, volume.pids):
        directory.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "harness.containers.inside", "work", *argv[1:]]
    try:
        child = subprocess.Popen(command)
    except OSError as error:
        print(f"cannot start the worker: {error}", file=sys.stderr)
        return KEEPER_FAILED
    signal.signal(signal.SIGTERM, lambda signum, _frame: child.send_signal(signum))
    volume.write_marker(volume.pids / args.name, str(child.pid))
    code = child.wait()
    if code < 0:
        return 128 - code
    volume.write_marker(volume.finished / args.name, str(code))
    return 0


def kill(args: argparse.Namespace) -> int:
    """SIGKILL the worker now running in container ``--name``; 1 if it is not running. Prints
    ``killing PID CLOCK NS`` first: the kill's time on this node's clock (``CLOCK`` names it),
    which the worker's history uses, whatever the harness's own clock says."""
    try:
        pid = int((SharedVolume(args.shared).pids / args.name).read_text())
        # Before the kill: the container may end before this call returns.
        print(f"{KILLING} {pid} {clock_domain()} {time.monotonic_ns()}", flush=True)
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError) as error:
        print(f"no worker to kill in {args.name}: {error}", file=sys.stderr)
        return KILL_REFUSED
    return 0


def drain(args: argparse.Namespace) -> int:
    """Take what is left in the queue (the usual drain) and write its records, one JSON object
    per line, to ``history/drain.jsonl``."""
    volume = SharedVolume(args.shared)
    config = from_args(StressConfig, args)
    open_queue = _opener(config, volume)
    if config.delivery == AT_LEAST_ONCE:
        records = drain_claims(open_queue, config.lease, args.limit)
    else:
        records = drain_gets(open_queue, args.limit)
    volume.history.mkdir(exist_ok=True)
    clock = clock_domain()
    text = "".join(json.dumps({**record, CLOCK: clock}) + "\n" for record in records)
    (volume.history / DRAIN_HISTORY).write_text(text, encoding="utf-8")
    return 0


def clock(args: argparse.Namespace) -> int:
    """Print this node's clock: ``CLOCK NS`` (its domain, and ``time.monotonic_ns()``)."""
    print(f"{clock_domain()} {time.monotonic_ns()}", flush=True)
    return 0


def dump(args: argparse.Namespace) -> int:
    """Print every history file and every finished marker as one JSON object; with
    ``--names-only``, the history files' names with empty texts (how many times each
    container started, cheaply)."""
    volume = SharedVolume(args.shared)
    if args.heartbeat:
        volume.heartbeat.touch()
    json.dump({"history": volume.histories(names_only=args.names_only),
               "finished": volume.finished_codes()}, sys.stdout)
    return 0


def stand_by(args: argparse.Namespace) -> int:
    """Make the volume's folders (group-writable and set-group-id when ``--group`` is given,
    as a Pod's ``fsGroup`` makes an emptyDir), then wait until SIGTERM: the container through
    which the harness reaches the volume and runs the drain on a cluster."""
    volume = SharedVolume(args.shared)
    for folder in (volume.root, volume.queue, volume.history, volume.finished, volume.pids):
        folder.mkdir(exist_ok=True)
        if args.group is not None:
            os.chown(folder, -1, args.group)
            folder.chmod(0o2775)
    volume.heartbeat.touch()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    while True:
        signal.pause()


def touch(args: argparse.Namespace) -> int:
    """Create (or touch) the marker ``--marker``."""
    (Path(args.shared) / args.marker).touch()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness.containers.inside")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("worker", "work", "drain"):
        command = commands.add_parser(name, allow_abbrev=False)
        command.add_argument("--shared", required=True)
        add_flags(command, StressConfig, for_workers)
        if name == "drain":
            command.add_argument("--limit", type=int, required=True)
            continue
        command.add_argument("--name", required=True)
        command.add_argument("--role", choices=("producer", "consumer", "reader"),
                             required=True)
        command.add_argument("--slot", type=int, required=True,
                             help="the container's place among those of its role, from 0")
        command.add_argument("--quota", type=int, default=0)
        command.add_argument("--umask", type=lambda text: int(text, 8), default=None)
    commands.add_parser("clock")
    for name in ("kill", "dump", "touch", "stand-by"):
        command = commands.add_parser(name)
        command.add_argument("--shared", required=True)
        if name == "stand-by":
            command.add_argument("--group", type=int, default=None)
        if name == "dump":
            command.add_argument("--names-only", action="store_true")
            command.add_argument("--heartbeat", action="store_true",
                                 help="touch the heartbeat first (the harness still watches)")
        if name == "kill":
            command.add_argument("--name", required=True)
        if name == "touch":
            command.add_argument("--marker", required=True, choices=(
                "go", "producers-done", "stop-producing", "heartbeat"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if getattr(args, "umask", None) is not None:
        os.umask(args.umask)
    if args.command == "worker":
        return keep(args, argv)
    return {"work": work, "drain": drain, "kill": kill, "dump": dump, "touch": touch,
            "stand-by": stand_by, "clock": clock}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
