"""A faulty disk: the queue's file calls fail at random, and a check that the queue copes.

``install_faults(kinds, rate, seed)`` makes, in the current process, each file-changing call
on a file under ``only_under`` (see ``fileops``) fail with probability ``rate``:

- ``enospc``: the disk is full (``OSError(ENOSPC)``) on a write, a create, a rename or an
  ``fsync``;
- ``eio``: an I/O error (``OSError(EIO)``) on any file-changing call;
- ``short-write``: a ``write`` or ``pwrite`` writes a prefix of its bytes (at least one, not
  all) and returns its count, as a nearly full disk does.

A call right after an injected fault always succeeds: a failure is transient, so a queue can
undo what the failed call began (cut a partial append back). The choices come from
``random.Random(seed)``, so a run repeats.

``check_under_faults`` runs a seeded put/get workload on one queue with faults installed and
says what broke: an operation that raised counts as not done (a failed put's item must never
come out, a failed get must take nothing), one that returned must be kept, and the order must
be the put order. ``harness stress --faults`` installs the same faults in its workers.
"""

from __future__ import annotations

import errno
import os
import random
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import fileops

FAULTS = ("enospc", "eio", "short-write")
_ENOSPC_CALLS = frozenset({"write", "pwrite", "open", "replace", "rename", "fsync",
                           "fdatasync"})


def parse_faults(text: str) -> tuple[str, ...]:
    """``"enospc,eio"`` as a tuple of fault names; ``ValueError`` naming an unknown one."""
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAULTS]
    if unknown or not kinds:
        named = f"unknown fault {', '.join(unknown)}" if unknown else "no fault given"
        raise ValueError(f"{named}; choose from {', '.join(FAULTS)}")
    return kinds


@dataclass
class Faults:
    """Installed faults: what was injected so far, and how to take them away."""

    kinds: tuple[str, ...]
    rate: float
    injected: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    _uninstall: Callable[[], None] | None = None

    def uninstall(self) -> None:
        """Put the real ``os`` functions back (idempotent)."""
        if self._uninstall is not None:
            self._uninstall()
            self._uninstall = None


def install_faults(kinds: Iterable[str], rate: float, seed: int = 0, *,
                   only_under: str | os.PathLike[str] | None = None) -> Faults:
    """Make the file calls of this process fail at random (see the module docstring); the
    ``Faults`` to read the counts from and to ``uninstall``."""
    kinds = tuple(kinds)
    if not kinds or any(k not in FAULTS for k in kinds):
        raise ValueError(f"faults must be some of {', '.join(FAULTS)}, not {kinds!r}")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"the fault rate must be between 0 and 1, not {rate!r}")
    root = None if only_under is None else os.path.realpath(only_under) + os.sep
    rng = random.Random(seed)
    faults = Faults(kinds, rate)
    just_failed = False

    def hook(call: fileops.FileCall, perform: Callable[..., Any]) -> Any:
        nonlocal just_failed
        if call.path is None or (root is not None and not os.path.realpath(
                os.path.join(os.getcwd(), call.path)).startswith(root)):
            return perform()
        faults.calls += 1
        if just_failed or rng.random() >= rate:
            just_failed = False
            return perform()
        possible = [k for k in kinds if _applies(k, call)]
        if not possible:
            return perform()
        kind = rng.choice(possible)
        faults.injected[kind] += 1
        just_failed = True
        if kind == "short-write":
            return perform(bytes(call.data[:rng.randint(1, call.size - 1)]))
        code = errno.ENOSPC if kind == "enospc" else errno.EIO
        raise OSError(code, os.strerror(code), call.path)

    faults._uninstall = fileops.install(hook)
    return faults


def _applies(kind: str, call: fileops.FileCall) -> bool:
    if kind == "short-write":
        return call.kind in fileops.WRITES and call.size > 1
    if kind == "enospc":
        return call.kind in _ENOSPC_CALLS
    return True


@dataclass
class FaultCheck:
    """What a workload under faults did and what broke."""

    operations: int = 0
    failed: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def check_under_faults(opener: Callable[..., Any], root: Path | None = None, *,
                       kinds: Iterable[str] = FAULTS, rate: float = 0.05, seed: int = 0,
                       operations: int = 300, fsync: bool = False, format: str = "journal",
                       workload: str = "put-get") -> FaultCheck:
    """Run ``operations`` seeded operations on a new queue (``opener`` as in ``crashpoints``)
    with faults installed, then reopen it without faults and drain it.

    ``workload``: ``put-get``, or ``claims`` (puts, claims, acks, nacks and gets; the queue
    needs FileQueue's claim API). The compaction thresholds are lowered as for crash points,
    so that compactions of the journal and of the ledger meet faults too.
    """
    from .workloads import LATER, discard, lowered_thresholds

    if workload not in ("put-get", "claims"):
        raise ValueError(f"unknown workload {workload!r}; choose put-get or claims")
    directory = Path(tempfile.mkdtemp(prefix="faults-", dir=root))
    path = directory / "queue" / "tasks.json"
    rng = random.Random(seed)
    result = FaultCheck()
    now = [1_000_000.0]  # leases end only when the queue is reopened, at LATER

    def open_queue() -> Any:
        return opener(path, fsync=fsync, format=format, clock=lambda: now[0])

    model = _Model()
    with lowered_thresholds():
        queue = open_queue()
        if workload == "claims" and not hasattr(queue, "claim"):
            queue.close()
            raise ValueError(f"{type(queue).__name__} has no claim(): use the put-get workload")
        faults = install_faults(kinds, rate, seed, only_under=directory)
        try:
            _run_operations(queue, model, result, operations, rng, workload)
        finally:
            faults.uninstall()
            result.injected = faults.injected
            queue.close()
        now[0] = LATER
        try:
            reopened = open_queue()
            left = list(iter(reopened.get, None))
            reopened.close()
        except Exception as error:
            model.problems.append(f"the queue does not reopen after the faults: "
                                  f"{type(error).__name__}: {error}")
            left = None
    result.problems = model.problems + _left_problems(left, model)
    if not result.problems:
        discard(directory)
    return result


def _run_operations(queue: Any, model: _Model, result: FaultCheck, operations: int,
                    rng: random.Random, workload: str) -> None:
    for n in range(operations):
        result.operations += 1
        if not _operate(queue, model, n, rng, workload):
            result.failed += 1


def _left_problems(left: list[Any] | None, model: _Model) -> list[str]:
    """What is wrong with the items ``left`` in the queue after the run (None: unreadable)."""
    if left is None or left == model.items:
        return []
    lost = [i for i in model.items if i not in left]
    extra = [i for i in left if i not in model.items]
    return [f"after the run the queue holds {len(left)} items, {len(model.items)} expected; "
            f"lost {lost[:5]}, unexpected {extra[:5]}"
            + (" (failed puts)" if set(extra) & model.failed_puts else "")
            + ("" if lost or extra else " (out of order)")]


@dataclass
class _Model:
    """What the queue must hold: every item put and not taken for good, in put order, and
    which of them live claims hold."""

    items: list[str] = field(default_factory=list)
    claims: dict[str, Any] = field(default_factory=dict)
    failed_puts: set[str] = field(default_factory=set)
    consumed: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def took(self, n: int, op: str, got: Any) -> None:
        """A get or claim returned ``got``: it must be the oldest item no claim holds."""
        ready = [i for i in self.items if i not in self.claims]
        oldest = ready[0] if ready else None
        if got != oldest:
            self.problems.append(f"operation {n}: {op} returned {got!r} "
                                 f"{self._why(got, ready)}; the oldest ready item is {oldest!r}")
        if got in ready:
            for skipped in ready[:ready.index(got)]:  # reported once, above
                self.items.remove(skipped)

    def _why(self, got: Any, ready: list[str]) -> str:
        if got in self.failed_puts:
            return "whose put raised"
        if got in self.consumed:
            return "that was taken for good already"
        if got in self.claims:
            return "that a live claim holds"
        if got is None:
            return "(nothing)"
        if got in ready:
            skipped = ready[:ready.index(got)]
            return f"skipping {len(skipped)} older items {skipped[:3]} (lost or reordered)"
        return "that is not in the queue (an operation that raised had taken it, or an " \
               "earlier one skipped it)"

    def remove(self, item: str) -> None:
        if item in self.items:
            self.items.remove(item)
        self.claims.pop(item, None)
        self.consumed.add(item)


def _operate(queue: Any, model: _Model, n: int, rng: random.Random, workload: str) -> bool:
    """One seeded operation, checked against ``model``; False if it raised."""
    roll = rng.random()
    if workload == "put-get":
        op = "put" if roll < 0.55 else "get"
    else:
        op = ("put" if roll < 0.45 else "claim" if roll < 0.65 else "ack" if roll < 0.8
              else "nack" if roll < 0.88 else "get")
        if op in ("ack", "nack") and not model.claims:
            op = "claim"
    held = model.claims[rng.choice(sorted(model.claims))] if op in ("ack", "nack") else None
    try:
        if op == "put":
            result = queue.put(f"item-{n}")
        elif op == "get":
            result = queue.get()
        elif op == "claim":
            result = queue.claim(lease=30.0)
        elif op == "ack":
            result = queue.ack(held)
        else:
            result = queue.nack(held)
    except Exception:
        if op == "put":
            model.failed_puts.add(f"item-{n}")
        return False
    if op == "put":
        model.items.append(f"item-{n}")
    elif op == "get":
        model.took(n, "get", result)
        if result is not None:
            model.remove(result)
    elif op == "claim":
        model.took(n, "claim", None if result is None else result.item)
        if result is not None:
            model.claims[result.item] = result
    elif op == "ack":
        model.remove(held.item)
    else:
        model.claims.pop(held.item)
    return True
