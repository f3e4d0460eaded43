"""``python -m harness crashpoints``: stop a queue at every file-changing call and check it.

A deterministic workload (``put-get`` or ``claims``) runs once in a child process that records
every file-changing call the queue makes (``fileops``). Then, for each call ``k`` and each way
to stop there (``before`` it, ``after`` it, and for a write after ``half`` its bytes), the
workload runs again in a fresh child on a fresh directory and ends itself (``os._exit``) at that
point, as a SIGKILL would. The child writes which operations began and returned to a file
outside the queue's directory; the parent then reopens the queue and checks that it opens,
that every item whose put returned is there unless a get or ack of it returned, that nothing
is there twice or after its get returned, that the order is the put order, that ``size()``
agrees with what ``get()`` hands out, and that a new put comes back out.

With ``--power-loss`` (for ``fsync=True``) the recorded calls build, for each prefix, the
states a power loss may leave (``fsmodel``, after the ALICE study), and the same checks run
on each: every operation that had returned must survive.

The compaction thresholds of the journal and of the claims ledger are lowered for the run
(``THRESHOLDS``), so that both compactions are among the points.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import fileops, fsmodel

EXIT_VALID, EXIT_BAD, EXIT_FAILED = 0, 1, 2
QUEUE_NAME = "tasks.json"
#: (module, constant, value for the run): small enough that a workload of a few dozen items
#: compacts the journal (both rules) and the claims ledger more than once.
THRESHOLDS = (
    ("queue_core.storage.journal", "COMPACT_MIN_BYTES", 300),
    ("queue_core.storage.journal", "COMPACT_EMPTY_BYTES", 150),
    ("queue_core.ledger", "COMPACT_MIN_BYTES", 400),
)
MODES = ("before", "after", "half")
#: The clock the check reopens the queue with: every lease and delay of the workload is over.
LATER = 4.0e9
PROBE = "probe-after-reopen"


class CrashpointsError(Exception):
    """The exploration could not run (not a verdict on the queue)."""


# -- the workloads -------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One queue operation of a workload."""

    op: str  # open, reopen, put, get, claim, ack, nack, extend
    #: put: the item; claim: the name the claim is kept under; ack/nack/extend: that name.
    arg: Any = None


def _item(n: int) -> str:
    return f"item-{n:03d}-" + "x" * 24


def put_get_steps() -> list[Step]:
    """Puts and gets that empty the queue now and then, with a reopen in the middle."""
    steps = [Step("open")]
    n = 0
    for round_ in range(6):
        for _ in range(3):
            steps.append(Step("put", _item(n)))
            n += 1
        steps += [Step("get")] * (2 if round_ % 3 != 2 else 5)
        if round_ == 2:
            steps.append(Step("reopen"))
    return steps


def claims_steps() -> list[Step]:
    """Claims, acks, nacks and extends, enough of them to compact the ledger, and gets."""
    steps = [Step("open")] + [Step("put", _item(n)) for n in range(6)]
    steps += [Step("claim", "a"), Step("claim", "b"), Step("ack", "a"), Step("get")]
    for _ in range(9):
        steps += [Step("nack", "b"), Step("claim", "b")]
    steps += [Step("extend", "b"), Step("reopen"), Step("claim", "c"), Step("ack", "b"),
              Step("put", _item(6)), Step("get"), Step("claim", "d"), Step("nack", "d"),
              Step("ack", "c"), Step("get")]
    return steps


WORKLOADS: dict[str, Callable[[], list[Step]]] = {"put-get": put_get_steps,
                                                  "claims": claims_steps}


class _Clock:
    """A clock that moves 1 ms per reading: the same times in every run."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


#: opener(path, fsync=..., format=..., clock=...) -> a queue with FileQueue's API.
Opener = Callable[..., Any]


def filequeue_opener(path: Path, *, fsync: bool, format: str, clock: Callable[[], float]) -> Any:
    from queue_core import FileQueue

    return FileQueue(path, fsync=fsync, format=format, max_attempts=1000, clock=clock)


def run_steps(steps: list[Step], open_queue: Callable[[], Any],
              report: Callable[[str, int], None]) -> list[Any]:
    """Run ``steps``; for each, the item it put, got, claimed or settled (or ``None``).
    ``report("begin"|"end", index)`` brackets each step."""
    queue = None
    claims: dict[str, Any] = {}
    values: list[Any] = []
    for index, step in enumerate(steps):
        report("begin", index)
        value = None
        if step.op in ("open", "reopen"):
            if queue is not None:
                queue.close()
            queue = open_queue()
        elif step.op == "put":
            queue.put(step.arg)
            value = step.arg
        elif step.op == "get":
            value = queue.get()
        elif step.op == "claim":
            claim = claims[step.arg] = queue.claim(lease=30.0)
            value = None if claim is None else claim.item
        else:
            claim = claims[step.arg]
            if step.op == "ack":
                queue.ack(claim)
            elif step.op == "nack":
                queue.nack(claim)
            else:
                claims[step.arg] = queue.extend(claim, 30.0)
            value = claim.item
        values.append(value)
        report("end", index)
    return values


# -- what must hold after a stop ------------------------------------------------------------


@dataclass
class Expectation:
    """What the reopened queue must hold, given which steps returned and which was in flight."""

    #: Every item put (or being put), in put order.
    order: dict[Any, int] = field(default_factory=dict)
    required: set[Any] = field(default_factory=set)
    consumed: set[Any] = field(default_factory=set)
    #: An in-flight put's item may be there; an in-flight get's or ack's item may be gone.
    may_be_present: set[Any] = field(default_factory=set)
    may_be_gone: set[Any] = field(default_factory=set)


def expect(steps: list[Step], values: list[Any], returned: set[int],
           in_flight: int | None) -> Expectation:
    """The expectation after the ``returned`` steps, with ``in_flight`` begun (if any)."""
    exp = Expectation()
    for index in sorted(returned):
        op, value = steps[index].op, values[index]
        if op == "put":
            exp.order[value] = len(exp.order)
            exp.required.add(value)
        elif op in ("get", "ack") and value is not None:
            exp.required.discard(value)
            exp.consumed.add(value)
    if in_flight is not None:
        op, value = steps[in_flight].op, values[in_flight]
        if op == "put":
            exp.order[value] = len(exp.order)
            exp.may_be_present.add(value)
        elif op in ("get", "ack") and value is not None:
            exp.may_be_gone.add(value)
    return exp


def judge(path: Path, open_queue: Callable[[Path], Any], exp: Expectation) -> list[str]:
    """Reopen the queue at ``path``, drain it and say what is wrong (nothing: ``[]``)."""
    try:
        queue = open_queue(path)
    except Exception as error:
        return [f"the queue does not open: {type(error).__name__}: {error}"]
    problems: list[str] = []
    drained: list[Any] = []
    try:
        size = queue.size()
        for _ in range(len(exp.order) + 5):
            item = queue.get()
            if item is None:
                break
            drained.append(item)
        if size != len(drained):
            problems.append(f"size() said {size}, get() then returned {len(drained)} items")
        queue.put(PROBE)
        back = queue.get()
        if back != PROBE:
            problems.append(f"a put after reopening did not come back out (get gave {back!r})")
    except Exception as error:
        problems.append(f"reopened, then raised {type(error).__name__}: {error}")
    finally:
        with contextlib.suppress(Exception):
            queue.close()
    counts = Counter(drained)
    problems += [f"{item!r} is in the queue {n} times" for item, n in counts.items() if n > 1]
    problems += [f"{item!r} came back after its get or ack returned"
                 for item in counts if item in exp.consumed]
    problems += [f"{item!r} was never put" for item in counts
                 if item not in exp.order and item not in exp.consumed]
    lost = sorted(exp.required - exp.may_be_gone - set(counts), key=exp.order.get)
    problems += [f"{item!r} is lost (its put returned)" for item in lost]
    ranks = [exp.order[item] for item in drained if item in exp.order]
    if ranks != sorted(ranks):
        problems.append(f"out of put order: {drained}")
    return problems


# -- running the workload in children --------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """Where a child stops: before, after, or half-way through call ``index``."""

    index: int
    mode: str


@dataclass
class Recording:
    """The calls of one uninterrupted run and what its steps returned."""

    calls: list[fileops.FileCall]
    stacks: list[tuple[str, ...]]
    values: list[Any]
    #: For each step, the number of calls made when it began and when it returned.
    bounds: list[tuple[int, int]]
    ops: list[fsmodel.Op]


@dataclass
class BadPoint:
    """A stop after which the queue broke its promises."""

    where: str  # "before call 12", "power loss before call 12 (every unsynced change lost)"
    call: str
    stack: tuple[str, ...]
    step: str
    problems: list[str]
    #: Where the files it left were kept.
    directory: str = ""

    def render(self) -> str:
        lines = [f"BAD {self.where}: {self.call} during {self.step}"]
        lines += [f"    {p}" for p in self.problems]
        if self.directory:
            lines.append(f"    files left in {self.directory}")
        lines += [f"      at {frame}" for frame in self.stack]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"where": self.where, "call": self.call, "step": self.step,
                "problems": self.problems, "stack": list(self.stack),
                "directory": self.directory}


@dataclass
class Exploration:
    """The outcome of one exploration."""

    label: str
    points: int = 0
    bad: list[BadPoint] = field(default_factory=list)
    calls: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "calls": self.calls, "points": self.points,
                "bad": [b.as_dict() for b in self.bad]}


@contextlib.contextmanager
def lowered_thresholds() -> Iterator[None]:
    """Set ``THRESHOLDS`` for the duration; ``CrashpointsError`` if a constant is gone."""
    saved = []
    try:
        for module_name, name, value in THRESHOLDS:
            module = importlib.import_module(module_name)
            if not hasattr(module, name):
                raise CrashpointsError(f"{module_name}.{name} does not exist any more: update "
                                       "harness.crashpoints.THRESHOLDS")
            saved.append((module, name, getattr(module, name)))
            setattr(module, name, value)
        yield
    finally:
        for module, name, value in reversed(saved):
            setattr(module, name, value)


def _fork(child: Callable[[], int]) -> int:
    """Run ``child()`` in a forked process that ends with its result; the exit status."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            code = child()
        except BaseException:
            code = 71
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


_STOPPED, _FINISHED, _DIVERGED, _RAISED = 0, 10, 11, 12


class Explorer:
    """Runs one workload on one queue configuration, under ``root``."""

    def __init__(self, steps: list[Step], opener: Opener, root: Path, *, fsync: bool,
                 format: str, modes: tuple[str, ...] = MODES) -> None:
        self.steps = steps
        self.opener = opener
        self.root = root
        self.fsync = fsync
        self.format = format
        self.modes = modes
        self._runs = 0

    def _open(self, path: Path, clock: Callable[[], float]) -> Any:
        return self.opener(path, fsync=self.fsync, format=self.format, clock=clock)

    def _fresh(self, tag: str) -> Path:
        self._runs += 1
        directory = self.root / f"{self._runs:05d}-{tag}"
        directory.mkdir(parents=True)
        (directory / "queue").mkdir()
        return directory

    def record(self) -> Recording:
        """Run the workload once, uninterrupted, recording every call."""
        directory = self._fresh("record")
        path = directory / "queue" / QUEUE_NAME
        out = directory / "recording.pickle"
        failure = directory / "failure.txt"
        recorder = fsmodel.Recorder(path.parent)
        calls: list[fileops.FileCall] = []
        stacks: list[tuple[str, ...]] = []
        bounds: list[list[int]] = []

        def hook(call: fileops.FileCall, perform: Callable[..., Any]) -> Any:
            if call.path is None:
                return perform()
            calls.append(_slim(call))
            stack = fileops.caller_stack(limit=16)
            starts = [i for i, frame in enumerate(stack) if frame.endswith(" in run_steps")]
            stacks.append(stack[starts[-1]:] if starts else stack)
            return recorder.perform(len(calls) - 1, call, perform)

        def report(event: str, index: int) -> None:
            if event == "begin":
                bounds.append([len(calls), -1])
            else:
                bounds[index][1] = len(calls)

        def child() -> int:
            clock = _Clock()
            with fileops.intercept(hook):
                try:
                    values = run_steps(self.steps, lambda: self._open(path, clock), report)
                except Exception as error:
                    failure.write_text(f"step {len(bounds) - 1} raised "
                                       f"{type(error).__name__}: {error}")
                    return _RAISED
            recording = Recording(calls, stacks, values, [tuple(b) for b in bounds],
                                  recorder.ops)
            out.write_bytes(pickle.dumps(recording))
            return 0

        code = _fork(child)
        if code != 0 or not out.exists():
            why = failure.read_text() if failure.exists() else f"exit {code}"
            raise CrashpointsError(f"the workload did not run to its end ({why}) in "
                                   f"{directory}")
        recording = pickle.loads(out.read_bytes())
        actual = {p.name: p.read_bytes() for p in path.parent.iterdir()}
        modelled = fsmodel.replay(recording.ops)
        if modelled != actual:
            differ = sorted(n for n in {*actual, *modelled} if actual.get(n) != modelled.get(n))
            raise CrashpointsError(
                f"the recorded calls do not rebuild the queue's files ({', '.join(differ)} "
                f"differ, in {directory}): the queue changed them through calls that "
                "harness/fileops.py does not intercept")
        shutil.rmtree(directory)
        return recording

    def points(self, recording: Recording) -> list[Point]:
        """Every way to stop at every recorded call."""
        return [Point(i, mode) for i, call in enumerate(recording.calls) for mode in self.modes
                if mode != "half" or (call.kind in fileops.WRITES and call.size > 1)]

    def crash_at(self, point: Point, recording: Recording) -> BadPoint | None:
        """Run the workload until ``point`` in a child, then judge what it left."""
        directory = self._fresh(f"{point.mode}-{point.index}")
        path = directory / "queue" / QUEUE_NAME
        events = directory / "events"
        expected = recording.calls[point.index]

        def child() -> int:
            fd = fileops.REAL["open"](events, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            seen = 0

            def report(event: str, index: int) -> None:
                fileops.REAL["write"](fd, f"{event} {index}\n".encode())

            def hook(call: fileops.FileCall, perform: Callable[..., Any]) -> Any:
                nonlocal seen
                if call.path is None:
                    return perform()
                index, seen = seen, seen + 1
                if index != point.index:
                    return perform()
                if (call.kind, call.size) != (expected.kind, expected.size):
                    os._exit(_DIVERGED)
                if point.mode == "before":
                    os._exit(_STOPPED)
                if point.mode == "half":
                    perform(bytes(call.data[:call.size // 2]))
                    os._exit(_STOPPED)
                perform()
                os._exit(_STOPPED)

            clock = _Clock()
            with fileops.intercept(hook):
                try:
                    run_steps(self.steps, lambda: self._open(path, clock), report)
                except Exception:
                    return _RAISED
            return _FINISHED

        code = _fork(child)
        if code != _STOPPED:
            why = {_FINISHED: "the run ended before reaching it",
                   _DIVERGED: "the run made other calls than the recorded run",
                   _RAISED: "the run raised before reaching it"}.get(code, f"exit {code}")
            raise CrashpointsError(f"cannot stop {point.mode} call {point.index}: {why} "
                                   "(is the workload deterministic?)")
        begun, returned = set(), set()
        for line in events.read_text().splitlines():
            event, index = line.split()
            (begun if event == "begin" else returned).add(int(index))
        in_flight = next(iter(begun - returned), None)
        exp = expect(self.steps, recording.values, returned, in_flight)
        problems = judge(path, lambda p: self._open(p, lambda: LATER), exp)
        if not problems:
            shutil.rmtree(directory)
            return None
        return self._bad(f"{point.mode} call {point.index}", point.index, recording,
                         in_flight, problems, directory)

    def power_loss_at(self, index: int, recording: Recording) -> list[BadPoint]:
        """Judge every state a power loss just before call ``index`` may leave."""
        returned = {i for i, (_, end) in enumerate(recording.bounds) if end <= index}
        in_flight = next((i for i, (begin, end) in enumerate(recording.bounds)
                          if begin <= index < end), None)
        exp = expect(self.steps, recording.values, returned, in_flight)
        bad = []
        for label, files in fsmodel.power_loss_states(recording.ops, index):
            directory = self._fresh(f"power-{index}")
            fsmodel.materialize(files, directory / "state")
            path = directory / "state" / QUEUE_NAME
            problems = judge(path, lambda p: self._open(p, lambda: LATER), exp)
            if problems:
                bad.append(self._bad(f"power loss before call {index} ({label})", index,
                                     recording, in_flight, problems, directory))
            else:
                shutil.rmtree(directory)
        return bad

    def _bad(self, where: str, index: int, recording: Recording, in_flight: int | None,
             problems: list[str], directory: Path) -> BadPoint:
        if index < len(recording.calls):
            call, stack = recording.calls[index].describe(), recording.stacks[index]
        else:
            call, stack = "(after the last call)", ()
        step = "no operation"
        if in_flight is not None:
            s = self.steps[in_flight]
            step = f"step {in_flight} {s.op}" + ("" if s.arg is None else f"({s.arg!r})")
        return BadPoint(where, call, stack, step, problems, str(directory))


def _slim(call: fileops.FileCall) -> fileops.FileCall:
    """The call without its data and descriptor (a picklable record)."""
    data = None if call.data is None else bytes(call.data)
    return fileops.FileCall(call.kind, call.path, call.target, call.size, None, call.flags, data,
                            call.offset, call.length)


def explore(workload: str = "put-get", *, format: str = "journal", fsync: bool = False,
            power_loss: bool = False, opener: Opener = filequeue_opener,
            root: Path | None = None, stride: int = 1, modes: tuple[str, ...] = MODES,
            progress: Callable[[int, int], None] | None = None) -> Exploration:
    """Explore every crash point (every ``stride``-th call) of ``workload``, or with
    ``power_loss`` every power-loss state, and return the bad ones."""
    if workload not in WORKLOADS:
        raise CrashpointsError(f"unknown workload {workload!r}; choose one of "
                               f"{', '.join(WORKLOADS)}")
    label = (f"{workload}, {format}, fsync={'on' if fsync else 'off'}"
             + (", power loss" if power_loss else ""))
    base = root or Path(tempfile.mkdtemp(prefix="crashpoints-", dir=scratch_directory()))
    work = Path(tempfile.mkdtemp(prefix="run-", dir=base))
    result = Exploration(label)
    try:
        with lowered_thresholds():
            explorer = Explorer(WORKLOADS[workload](), opener, work, fsync=fsync,
                                format=format, modes=modes)
            recording = explorer.record()
            result.calls = len(recording.calls)
            if power_loss:
                indexes = list(range(0, len(recording.calls) + 1, stride))
                for n, index in enumerate(indexes):
                    states = sum(1 for _ in fsmodel.power_loss_states(recording.ops, index))
                    result.points += states
                    result.bad += explorer.power_loss_at(index, recording)
                    if progress:
                        progress(n + 1, len(indexes))
            else:
                points = [p for p in explorer.points(recording) if p.index % stride == 0]
                for n, point in enumerate(points):
                    result.points += 1
                    bad = explorer.crash_at(point, recording)
                    if bad is not None:
                        result.bad.append(bad)
                    if progress:
                        progress(n + 1, len(points))
    finally:
        if root is None and not any(work.iterdir()):
            shutil.rmtree(base, ignore_errors=True)
        elif not any(work.iterdir()):
            work.rmdir()
    return result


def scratch_directory() -> str | None:
    """Where the runs' directories go by default: ``/dev/shm`` when it is there (the points
    are simulated, so a RAM file system only makes the many runs and their fsyncs cheaper),
    else the system's temporary directory."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


# -- the command -----------------------------------------------------------------------------


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``crashpoints`` on ``subparsers`` (``argparse``'s ``add_subparsers()``)."""
    from .storage_mutants import QUEUES

    parser = subparsers.add_parser(
        "crashpoints", help="stop the queue at every file-changing call and check what is left",
        description="Run a deterministic workload once to record every file-changing call the "
        "queue makes, then stop a fresh run before, after and half-way through each call (or, "
        "with --power-loss, build every state a power loss may leave) and check that every "
        "operation that returned survived, nothing is duplicated, the order holds and the "
        "queue opens. Exit 0 = every point good, 1 = bad points, 2 = could not run.",
    )
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="put-get")
    parser.add_argument("--format", default="journal", metavar="F",
                        help="the queue's storage format (default journal)")
    parser.add_argument("--fsync", action="store_true", help="open the queue with fsync=True")
    parser.add_argument("--power-loss", action="store_true",
                        help="check the states a power loss may leave (needs --fsync)")
    parser.add_argument("--queue", choices=sorted(QUEUES), default="filequeue",
                        help="the queue to explore: the real one or a selftest mutant")
    parser.add_argument("--stride", type=int, default=1, metavar="N",
                        help="explore only every N-th call (default: every call)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="keep the directories of bad points here (default: a temporary "
                        "directory, removed when every point is good)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--faults", default=None, metavar="KINDS",
                        help="instead of crash points: run the workload under random storage "
                        "faults (some of enospc,eio,short-write; harness/faults.py) and check "
                        "that failed operations did nothing and the others were kept")
    parser.add_argument("--fault-rate", type=float, default=0.05, metavar="P",
                        help="with --faults: the probability that a file call fails "
                        "(default 0.05)")
    parser.add_argument("--seeds", type=int, default=10, metavar="N",
                        help="with --faults: seeded runs of 300 operations (default 10)")
    parser.add_argument("--selftest", action="store_true",
                        help="instead: check that crashpoints and the fault check catch each "
                        "storage mutant and pass the reference queue (exit 0 if so)")
    parser.set_defaults(run=run_command)
    return parser


def run_command(args: argparse.Namespace) -> int:
    """The ``crashpoints`` subcommand; its exit code."""
    from queue_core.storage import FORMATS

    from .storage_mutants import QUEUES

    if args.selftest:
        return _run_selftest(args.out)
    if args.format not in FORMATS:
        return _fail(f"unknown format {args.format!r}; choose one of {', '.join(FORMATS)}")
    if args.power_loss and not args.fsync:
        return _fail("--power-loss needs --fsync: without fsync the queue promises nothing "
                     "after a power loss")
    if args.stride < 1:
        return _fail("--stride must be 1 or more")
    if args.workload == "claims" and args.queue != "filequeue":
        return _fail(f"{args.queue} has put and get only: use --workload put-get")
    if args.faults is not None:
        return _run_faults(args, QUEUES[args.queue])
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    tty = sys.stderr.isatty() and not args.json

    def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total}", end="", file=sys.stderr, flush=True)

    started = time.monotonic()
    try:
        result = explore(args.workload, format=args.format, fsync=args.fsync,
                         power_loss=args.power_loss, opener=QUEUES[args.queue], root=args.out,
                         stride=args.stride, progress=progress if tty else None)
    except CrashpointsError as error:
        return _fail(str(error))
    if tty:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        for bad in result.bad:
            print(bad.render())
        print(f"crashpoints ({args.queue}, {result.label}): {result.calls} file-changing calls, "
              f"{result.points} points explored, {len(result.bad)} bad "
              f"({time.monotonic() - started:.1f} s)")
    return EXIT_BAD if result.bad else EXIT_VALID


def _run_faults(args: argparse.Namespace, opener: Opener) -> int:
    from .faults import check_under_faults, parse_faults

    try:
        kinds = parse_faults(args.faults)
        if args.seeds < 1:
            raise ValueError("--seeds must be 1 or more")
        checks = [check_under_faults(opener, args.out, kinds=kinds, rate=args.fault_rate,
                                     seed=seed, fsync=args.fsync, format=args.format,
                                     workload=args.workload) for seed in range(args.seeds)]
    except ValueError as error:
        return _fail(str(error))
    bad = [(seed, c) for seed, c in enumerate(checks) if c.problems]
    if args.json:
        print(json.dumps([{"seed": seed, "operations": c.operations, "failed": c.failed,
                           "injected": dict(c.injected), "problems": c.problems}
                          for seed, c in enumerate(checks)], indent=2))
    else:
        for seed, check in bad:
            print(f"BAD seed {seed}:")
            print("\n".join(f"    {p}" for p in check.problems[:5]))
        injected = sum(sum(c.injected.values()) for c in checks)
        print(f"faults ({args.queue}, {args.workload}, {args.format}, "
              f"fsync={'on' if args.fsync else 'off'}, {','.join(kinds)} at "
              f"{args.fault_rate:g}): {len(checks)} runs, {injected} faults injected, "
              f"{sum(c.failed for c in checks)} operations failed, {len(bad)} runs bad")
    return EXIT_BAD if bad else EXIT_VALID


def _run_selftest(out: Path | None) -> int:
    from . import storage_selftest

    def announce(outcome: storage_selftest.StorageOutcome) -> None:
        verdict = "caught" if outcome.caught else "passed"
        mark = "ok " if outcome.as_expected else "BAD"
        print(f"{mark} {outcome.scenario.check:<11} {outcome.queue:<30} {verdict} "
              f"({outcome.seconds:.1f} s): {outcome.detail}", flush=True)

    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    outcomes = storage_selftest.run(out, announce)
    failed = [o for o in outcomes if not o.as_expected]
    print(f"storage selftest: {len(outcomes) - len(failed)} of {len(outcomes)} as expected")
    return EXIT_BAD if failed else EXIT_VALID


def _fail(reason: str) -> int:
    print(f"harness crashpoints: error: {reason}", file=sys.stderr)
    return EXIT_FAILED
