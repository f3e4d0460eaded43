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

import os
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import fileops, fsmodel, sequences
from .children import fork_child as _fork
from .workloads import (  # noqa: F401 (the names the crash points' users reach through here)
    LATER,
    MODES,
    PROBE,
    QUEUE_NAME,
    THRESHOLDS,
    WORKLOADS,
    CrashpointsError,
    Expectation,
    Opener,
    Step,
    _Clock,
    discard,
    expect,
    filequeue_opener,
    judge,
    lowered_thresholds,
    run_steps,
    scratch_directory,
)

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
        _check_replay(recording, path.parent, directory)
        discard(directory)
        return recording

    def points(self, recording: Recording) -> list[Point]:
        """Every way to stop at every recorded call."""
        return [Point(i, mode) for i, call in enumerate(recording.calls) for mode in self.modes
                if mode != "half" or (call.kind in fileops.WRITES and call.size > 1)]

    def crash_at(self, point: Point, recording: Recording) -> BadPoint | None:
        """Run the workload until ``point`` in a child, then judge what it left."""
        directory, returned, in_flight = self.stop_at(point, recording)
        path = directory / "queue" / QUEUE_NAME
        exp = expect(self.steps, recording.values, returned, in_flight)
        problems = judge(path, lambda p: self._open(p, lambda: LATER), exp)
        if not problems:
            discard(directory)
            return None
        return self._bad(f"{point.mode} call {point.index}", point.index, recording,
                         in_flight, problems, directory)

    def stop_at(self, point: Point, recording: Recording) -> tuple[Path, set[int], int | None]:
        """Run the workload until ``point`` in a child: the directory it left (the queue in
        its ``queue``), the steps that returned and the one in flight."""
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
        returned, in_flight = _outcomes(events)
        return directory, returned, in_flight

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
                discard(directory)
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


def _explore_sequences(explorer: Explorer, recording: Recording, workload: str,
                       power_loss: bool, stride: int, offset: int, second: tuple[str, ...],
                       result: Exploration) -> None:
    """Depth 2: every first stop, then every second stop during its recovery."""
    script = sequences.Script(sequences.RECOVERY[workload], explorer.opener, explorer.fsync,
                              explorer.format, LATER)

    def bad(where: str, problems: list[str], directory: Path) -> None:
        result.bad.append(BadPoint(where, "(a sequence of stops)", (), "the recovery",
                                   problems, str(directory)))

    firsts = sequences.first_stops(explorer, recording, workload, power_loss, stride, offset)
    result.points += sequences.explore_second(firsts, script, explorer.root, second, bad)


def _check_replay(recording: Recording, queue_directory: Path, run_directory: Path) -> None:
    """``CrashpointsError`` unless the recorded calls rebuild the queue's files exactly."""
    actual = {p.name: p.read_bytes() for p in queue_directory.iterdir()}
    modelled = fsmodel.replay(recording.ops)
    if modelled != actual:
        differ = sorted(n for n in {*actual, *modelled} if actual.get(n) != modelled.get(n))
        raise CrashpointsError(
            f"the recorded calls do not rebuild the queue's files ({', '.join(differ)} "
            f"differ, in {run_directory}): the queue changed them through calls that "
            "harness/disk/fileops.py does not intercept")


def _outcomes(events: Path) -> tuple[set[int], int | None]:
    """From a stopped child's events: the steps that returned, and the one in flight."""
    begun, returned = set(), set()
    for line in events.read_text().splitlines():
        event, index = line.split()
        (begun if event == "begin" else returned).add(int(index))
    return returned, next(iter(begun - returned), None)


def _slim(call: fileops.FileCall) -> fileops.FileCall:
    """The call without its data and descriptor (a picklable record)."""
    data = None if call.data is None else bytes(call.data)
    return fileops.FileCall(call.kind, call.path, call.target, call.size, None, call.flags, data,
                            call.offset, call.length)




def explore(workload: str = "put-get", *, format: str = "journal", fsync: bool = False,
            power_loss: bool = False, opener: Opener = filequeue_opener,
            root: Path | None = None, stride: int = 1, offset: int = 0,
            modes: tuple[str, ...] = MODES,
            progress: Callable[[int, int], None] | None = None, depth: int = 1,
            second: tuple[str, ...] = sequences.SECOND) -> Exploration:
    """Explore every crash point (every ``stride``-th call, from the ``offset``-th on) of
    ``workload``, or with
    ``power_loss`` every power-loss state, and return the bad ones. With ``depth`` 2, each
    of them is a first stop, followed by a recovery stopped in each way ``second`` names
    (``sequences``)."""
    if depth not in (1, 2):
        raise CrashpointsError(f"depth {depth}: sequences of 1 or 2 stops are explored")
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
            if depth == 2:
                _explore_sequences(explorer, recording, workload, power_loss, stride, offset,
                                   second,
                                   result)
            elif power_loss:
                indexes = list(range(offset % stride, len(recording.calls) + 1, stride))
                for n, index in enumerate(indexes):
                    states = sum(1 for _ in fsmodel.power_loss_states(recording.ops, index))
                    result.points += states
                    result.bad += explorer.power_loss_at(index, recording)
                    if progress:
                        progress(n + 1, len(indexes))
            else:
                points = [p for p in explorer.points(recording)
                          if p.index % stride == offset % stride]
                for n, point in enumerate(points):
                    result.points += 1
                    bad = explorer.crash_at(point, recording)
                    if bad is not None:
                        result.bad.append(bad)
                    if progress:
                        progress(n + 1, len(points))
    finally:
        if root is None and not any(work.iterdir()):
            discard(base)
        elif not any(work.iterdir()):
            work.rmdir()
    return result


