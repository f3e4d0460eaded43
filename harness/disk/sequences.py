"""Faults in sequence: a first stop (a crash, a power loss), the recovery that follows it, and a
second stop during that recovery (``crashpoints --depth 2``).

Losses live in sequences: a crash during the open that repairs the previous crash, a second
power loss after the first was recovered from, a fault during the undo of a fault. For each
first stop of the workload (every ``stride``-th crash point, or every power-loss state at
every ``stride``-th call), the recovery script (open, then a few puts, gets, claims and acks)
runs on what it left, with a new boot after a power loss; its own file-changing calls are
recorded, and then, each time on a fresh copy of the first stop's files:

- ``crash``: the recovery stops before, after and half-way through each of its calls;
- ``power``: a power loss before each of its calls (``fsmodel``, the first state's files
  taken as durable), and the next open is after yet another boot;
- ``faults``: the recovery runs with seeded faults on its file calls, one after another
  allowed (a fault during the undo of a fault).

Each stop is judged as a single one is (``workloads.judge``), against what both runs returned
(``account``); the recovery's own answers are checked on the way (an item got twice, a get
that skipped an older item).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CrashpointsError
from . import fileops, fsmodel
from .account import Account, Outcome
from .children import fork_child as _fork
from .workloads import LATER, MODES, QUEUE_NAME, Step, discard, judge

#: What runs after the first stop, by workload: it opens the queue (the repair), then moves
#: items both ways.
RECOVERY = {
    "put-get": (Step("open"), Step("put", "after-1"), Step("get"), Step("put", "after-2"),
                Step("get"), Step("get")),
    "claims": (Step("open"), Step("claim", "r"), Step("ack", "r"), Step("put", "after-1"),
               Step("claim", "s"), Step("nack", "s"), Step("get"), Step("get")),
}
SECOND = ("crash", "power", "faults")
#: The faults of a recovery under faults: their share of its file calls, and how many seeds.
FAULT_RATE, FAULT_SEEDS = 0.25, 4


@dataclass(frozen=True)
class Script:
    """A script to run on a queue's files: its steps, the queue's settings, its clock."""

    steps: tuple[Step, ...]
    opener: Callable[..., Any]
    fsync: bool
    format: str
    clock: float


@dataclass
class Stop:
    """How a run of a script is cut short or disturbed (all optional)."""

    #: Stop the process at this call (its index) in this way (``before``/``after``/``half``).
    at: tuple[int, str] | None = None
    #: Record the calls and their effects (``fsmodel``), the files there taken as durable.
    record: bool = False
    #: The kernel's boot id the run sees (None: the real one): a power loss is a reboot.
    boot: bytes | None = None
    #: Seed of the faults injected into its calls (None: no faults).
    fault_seed: int | None = None


@dataclass
class Run:
    """What a run of a script did: its steps' outcomes, and, when recorded, its calls, their
    effects and where each step began and ended among them."""

    outcome: Outcome
    calls: list[fileops.FileCall] = field(default_factory=list)
    ops: list[fsmodel.Op] = field(default_factory=list)
    bounds: list[tuple[int, int]] = field(default_factory=list)


def run_script(script: Script, queue_dir: Path, stop: Stop) -> Run:
    """Run ``script`` on the queue in ``queue_dir`` in a child process, disturbed as ``stop``
    says; what it did. ``CrashpointsError`` if the child could not run it."""
    events = queue_dir.parent / f"events-{os.getpid()}-{random.getrandbits(32):08x}"
    saved = events.with_suffix(".pickle")
    code = _fork(lambda: _child(script, queue_dir, stop, events, saved))
    if code not in (_STOPPED, 0):
        raise CrashpointsError(f"the script did not run ({_WHY.get(code, f'exit {code}')}) "
                               f"on {queue_dir}")
    outcome = _outcome(events)
    run = pickle.loads(saved.read_bytes()) if saved.exists() else Run(outcome)
    run.outcome = outcome
    for path in (events, saved):
        path.unlink(missing_ok=True)
    return run


_STOPPED, _DIVERGED = 10, 11
_WHY = {_DIVERGED: "the run made other calls than the recorded run", 70: "it raised",
        71: "it raised"}


def _child(script: Script, queue_dir: Path, stop: Stop, events: Path, saved: Path) -> int:
    if stop.boot is not None:
        from queue_core import groupcommit

        groupcommit.boot_id = lambda: stop.boot
    fd = fileops.REAL["open"](events, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    recorder = fsmodel.Recorder(queue_dir)
    if stop.record:
        recorder.seed()
    calls: list[fileops.FileCall] = []
    bounds: list[list[int]] = []
    hook = _hook(stop, recorder, calls)

    def note(line: str) -> None:
        fileops.REAL["write"](fd, (line + "\n").encode())

    path = queue_dir / QUEUE_NAME
    with fileops.intercept(hook):
        _run_steps(script, path, note, calls, bounds)
    if stop.record:
        run = Run(Outcome(), [_slim(c) for c in calls], recorder.ops,
                  [tuple(b) for b in bounds])
        saved.write_bytes(pickle.dumps(run))
    return 0


def _hook(stop: Stop, recorder: fsmodel.Recorder, calls: list[fileops.FileCall]) -> Any:
    rng = random.Random(stop.fault_seed)

    def hook(call: fileops.FileCall, perform: Callable[..., Any]) -> Any:
        if call.path is None:
            return perform()
        index = len(calls)
        calls.append(call)
        if stop.at is not None and index == stop.at[0]:
            if stop.at[1] == "before":
                os._exit(_STOPPED)
            perform(bytes(call.data[:call.size // 2]) if stop.at[1] == "half" else None)
            os._exit(_STOPPED)
        if stop.fault_seed is not None and rng.random() < FAULT_RATE:
            return _fault(call, perform, rng)
        if stop.record:
            return recorder.perform(index, call, perform)
        return perform()
    return hook


def _fault(call: fileops.FileCall, perform: Callable[..., Any], rng: random.Random) -> Any:
    """A fault instead of ``call``: a short write or an error (never two calls in one)."""
    if call.kind in fileops.WRITES and call.size > 1 and rng.random() < 0.5:
        return perform(bytes(call.data[:rng.randint(1, call.size - 1)]))
    code = rng.choice((errno.EIO, errno.ENOSPC))
    raise OSError(code, os.strerror(code), call.path)


def _run_steps(script: Script, path: Path, note: Callable[[str], None],
               calls: list[fileops.FileCall], bounds: list[list[int]]) -> None:
    """Run every step, going on after one that raised (as a worker does under faults)."""
    queue, claims = None, {}
    for index, step in enumerate(script.steps):
        note(f"begin {index}")
        bounds.append([len(calls), -1])
        try:
            value = _step(script, step, path, queue, claims)
            if step.op == "open":
                queue, value = value, None
        except Exception as error:
            note(f"raise {index} {int(bool(getattr(error, 'outcome_unknown', False)))}")
        else:
            note(f"end {index} {json.dumps(value)}")
        bounds[-1][1] = len(calls)


def _step(script: Script, step: Step, path: Path, queue: Any, claims: dict[str, Any]) -> Any:
    if step.op == "open":
        return script.opener(path, fsync=script.fsync, format=script.format,
                             clock=lambda: script.clock)
    if queue is None:
        raise RuntimeError("the queue did not open")
    if step.op == "put":
        queue.put(step.arg)
        return step.arg
    if step.op == "get":
        return queue.get()
    if step.op == "claim":
        claim = claims[step.arg] = queue.claim(lease=30.0)
        return None if claim is None else claim.item
    claim = claims.get(step.arg)
    if claim is None:
        return None
    (queue.ack if step.op == "ack" else queue.nack)(claim)
    return claim.item


def _outcome(events: Path) -> Outcome:
    outcome = Outcome()
    begun: set[int] = set()
    for line in events.read_text().splitlines() if events.exists() else ():
        event, index, *rest = line.split(" ", 2)
        if event == "begin":
            begun.add(int(index))
        elif event == "end":
            outcome.returned[int(index)] = json.loads(rest[0])
        else:
            outcome.raised[int(index)] = rest[0] == "1"
    left = begun - set(outcome.returned) - set(outcome.raised)
    outcome.in_flight = next(iter(left), None)
    return outcome


def _slim(call: fileops.FileCall) -> fileops.FileCall:
    data = None if call.data is None else bytes(call.data)
    return fileops.FileCall(call.kind, call.path, call.target, call.size, None, call.flags,
                            data, call.offset, call.length)


# -- the second stops -------------------------------------------------------------------------


@dataclass
class First:
    """A first stop: the files it left, what its steps did, and whether it was a power loss
    (the recovery then runs after a reboot)."""

    label: str
    files: dict[str, bytes]
    account: Account
    power: bool


def second_stops(first: First, script: Script, root: Path, kinds: tuple[str, ...]
                 ) -> Iterator[tuple[str, Account, Path]]:
    """Every second stop of ``kinds`` during the recovery from ``first``: a label, the account
    to judge it by, and the directory whose ``queue`` holds what it left."""
    boot = b"boot-after-" + first.label.encode()[:40] if first.power else None
    recorded = run_script(script, _copy(first, root, "recorded"), Stop(record=True, boot=boot))
    if "crash" in kinds:
        for index, call in enumerate(recorded.calls):
            for mode in MODES:
                if mode == "half" and (call.kind not in fileops.WRITES or call.size <= 1):
                    continue
                where = _copy(first, root, f"crash-{mode}-{index}")
                run = run_script(script, where, Stop(at=(index, mode), boot=boot))
                yield f"crash {mode} recovery call {index}", _after(first, script, run), where
    if "power" in kinds:
        seen: set[Any] = set()
        for index in range(len(recorded.calls) + 1):
            outcome = _prefix(recorded, index)
            states = fsmodel.power_loss_states(recorded.ops, index)
            for n, (label, files) in enumerate(states):
                key = (frozenset(files.items()), repr(sorted(outcome.returned.items())),
                       repr(sorted(outcome.raised.items())), outcome.in_flight)
                if key in seen:
                    continue  # the same files after the same answers: judged already
                seen.add(key)
                where = root / f"power-{index}-{n}" / "queue"
                fsmodel.materialize(files, where)
                yield (f"power loss before recovery call {index} ({label})",
                       _after(first, script, Run(outcome)), where)
    if "faults" in kinds:
        for seed in range(FAULT_SEEDS):
            where = _copy(first, root, f"faults-{seed}")
            run = run_script(script, where, Stop(boot=boot, fault_seed=seed))
            yield f"recovery under faults (seed {seed})", _after(first, script, run), where


def _copy(first: First, root: Path, tag: str) -> Path:
    where = root / tag
    fsmodel.materialize(first.files, where / "queue")
    return where / "queue"


def _prefix(recorded: Run, index: int) -> Outcome:
    """The outcome of the recorded run's steps as it stood before call ``index``."""
    outcome = Outcome()
    for step, (begin, end) in enumerate(recorded.bounds):
        if end <= index and step in recorded.outcome.returned:
            outcome.returned[step] = recorded.outcome.returned[step]
        elif end <= index and step in recorded.outcome.raised:
            outcome.raised[step] = recorded.outcome.raised[step]
        elif begin <= index < end:
            outcome.in_flight = step
    return outcome


def _after(first: First, script: Script, run: Run) -> Account:
    account = first.account.copy()
    account.leases_over()
    account.replay(script.steps, run.outcome, "recovery")
    return account


def judge_second(where: Path, account: Account, opener: Callable[..., Any], fsync: bool,
                 format: str, clock: float, power: bool) -> list[str]:
    """The problems of a second stop: those of the recovery's answers, then those of the
    files left (reopened after another boot when the second stop was a power loss)."""
    problems = list(account.problems)

    def reopen(path: Path) -> Any:
        return opener(path, fsync=fsync, format=format, clock=lambda: clock)

    if not power:
        return problems + judge(where / QUEUE_NAME, reopen, account.exp)
    with after_a_reboot(b"the-boot-after-the-second-power-loss"):
        return problems + judge(where / QUEUE_NAME, reopen, account.exp)


@contextlib.contextmanager
def after_a_reboot(boot: bytes) -> Iterator[None]:
    """Within: the kernel's boot id is ``boot`` (a power loss is a reboot: the next open is
    the first after it)."""
    from queue_core import groupcommit

    real = groupcommit.boot_id
    groupcommit.boot_id = lambda: boot
    try:
        yield
    finally:
        groupcommit.boot_id = real


# -- the first stops, and the exploration -----------------------------------------------------


def first_stops(explorer: Any, recording: Any, workload: str, power_loss: bool, stride: int,
                offset: int = 0) -> Iterator[First]:
    """The first stops of the workload: the state every ``stride``-th crash point leaves, or
    every power-loss state before every ``stride``-th call; each distinct one once."""
    seen: set[Any] = set()
    steps = explorer.steps
    if power_loss:
        for index in range(offset % stride, len(recording.calls) + 1, stride):
            outcome = _prefix(Run(_whole(recording), bounds=recording.bounds), index)
            for label, files in fsmodel.power_loss_states(recording.ops, index):
                first = _first(f"power loss before call {index} ({label})", files, steps,
                               outcome, recording.values, power=True)
                if _new(first, outcome, seen):
                    yield first
        return
    for point in explorer.points(recording)[offset % stride::stride]:
        directory, returned, in_flight = explorer.stop_at(point, recording)
        queue = directory / "queue"
        files = {p.name: p.read_bytes() for p in queue.iterdir() if p.is_file()}
        discard(directory)
        outcome = Outcome({i: recording.values[i] for i in returned}, {}, in_flight)
        first = _first(f"{point.mode} call {point.index}", files, steps, outcome,
                       recording.values, power=False)
        if _new(first, outcome, seen):
            yield first


def _whole(recording: Any) -> Outcome:
    return Outcome(dict(enumerate(recording.values)))


def _first(label: str, files: dict[str, bytes], steps: Any, outcome: Outcome,
           values: list[Any], power: bool) -> First:
    account = Account()
    account.replay(steps, outcome, "workload", known=values)
    return First(label, files, account, power)


def _new(first: First, outcome: Outcome, seen: set[Any]) -> bool:
    key = (frozenset(first.files.items()), frozenset(outcome.returned),
           outcome.in_flight, first.power)
    if key in seen:
        return False
    seen.add(key)
    return True


def explore_second(firsts: Iterator[First], script: Script, root: Path,
                   kinds: tuple[str, ...], bad: Callable[[str, list[str], Path], None]
                   ) -> int:
    """Judge every second stop of ``kinds`` after each first stop; ``bad(where, problems,
    directory)`` for each bad one (its directory is kept), the others' are removed. How many
    stops were judged."""
    judged = 0
    for n, first in enumerate(firsts):
        base = root / f"first-{n:05d}"
        for label, account, where in second_stops(first, script, base, kinds):
            judged += 1
            problems = judge_second(where, account, script.opener, script.fsync,
                                    script.format, 2 * LATER, label.startswith("power"))
            if problems:
                bad(f"{first.label}, then {label}", problems, where.parent)
            else:
                discard(where.parent)
        discard(base / "recorded")
        if base.exists() and not any(base.iterdir()):
            base.rmdir()
    return judged


__all__ = ["FAULT_RATE", "LATER", "RECOVERY", "SECOND", "First", "Run", "Script", "Stop",
           "explore_second", "first_stops", "judge_second", "run_script", "second_stops"]
