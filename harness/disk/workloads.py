"""The deterministic workloads the storage checks run (``put-get``, ``claims``), what must
hold after a stop, and the settings they share: lowered compaction thresholds, the clock a
check reopens the queue with, where runs go."""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from queue_core.doorbell import remove_bell

from ..errors import CrashpointsError

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
    """Run ``steps``; for each, the item it put, got, claimed, acked or nacked (or ``None``).
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


@contextlib.contextmanager
def lowered_thresholds() -> Iterator[None]:
    """Set ``THRESHOLDS`` for the duration; ``CrashpointsError`` if a constant is gone."""
    saved = []
    try:
        for module_name, name, value in THRESHOLDS:
            module = importlib.import_module(module_name)
            if not hasattr(module, name):
                raise CrashpointsError(f"{module_name}.{name} does not exist any more: update "
                                       "harness.disk.workloads.THRESHOLDS")
            saved.append((module, name, getattr(module, name)))
            setattr(module, name, value)
        yield
    finally:
        for module, name, value in reversed(saved):
            setattr(module, name, value)


def discard(directory: Path) -> None:
    """Remove a run's directory, and the doorbell FIFOs its queues made in ``/dev/shm``
    (thousands of points would leave thousands of them); nothing if it is gone."""
    for lock in Path(directory).rglob("*.lock"):
        remove_bell(lock)
    shutil.rmtree(directory, ignore_errors=True)


def scratch_directory() -> str | None:
    """Where the runs' directories go by default: ``/dev/shm`` when it is there (the points
    are simulated, so a RAM file system only makes the many runs and their fsyncs cheaper),
    else the system's temporary directory."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


