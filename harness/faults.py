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
be the put order. ``harness stress --faults`` is meant to use ``install_faults`` in its
workers; it is not wired there yet (see the README).
"""

from __future__ import annotations

import errno
import os
import random
import shutil
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
                       operations: int = 300, fsync: bool = False,
                       format: str = "journal") -> FaultCheck:
    """Run ``operations`` seeded puts and gets on a new queue (``opener`` as in
    ``crashpoints``) with faults installed, then reopen it without faults and drain it."""
    directory = Path(tempfile.mkdtemp(prefix="faults-", dir=root))
    path = directory / "queue" / "tasks.json"
    rng = random.Random(seed)
    result = FaultCheck()

    def open_queue() -> Any:
        return opener(path, fsync=fsync, format=format, clock=lambda: 1_000_000.0)

    queue = open_queue()
    waiting: list[str] = []  # what the queue must hold, oldest first
    failed_puts: set[str] = set()
    delivered: set[str] = set()
    faults = install_faults(kinds, rate, seed, only_under=directory)
    try:
        for n in range(operations):
            result.operations += 1
            if rng.random() < 0.55:
                item = f"item-{n}"
                try:
                    queue.put(item)
                except Exception:
                    result.failed += 1
                    failed_puts.add(item)
                else:
                    waiting.append(item)
                continue
            try:
                got = queue.get()
            except Exception:
                result.failed += 1
                continue
            oldest = waiting[0] if waiting else None
            if got != oldest:
                result.problems.append(_wrong_get(n, got, oldest, waiting, failed_puts,
                                                  delivered))
            if got in waiting:
                del waiting[:waiting.index(got) + 1]  # what it skipped is reported once
            if got is not None:
                delivered.add(got)
    finally:
        faults.uninstall()
        result.injected = faults.injected
        queue.close()
    try:
        reopened = open_queue()
        left = list(iter(reopened.get, None))
        reopened.close()
    except Exception as error:
        result.problems.append(f"the queue does not reopen after the faults: "
                               f"{type(error).__name__}: {error}")
        return result
    if left == waiting and not result.problems:
        shutil.rmtree(directory)
    if left != waiting:
        lost = [i for i in waiting if i not in left]
        extra = [i for i in left if i not in waiting]
        result.problems.append(f"after the run the queue holds {len(left)} items, "
                               f"{len(waiting)} expected; lost {lost[:5]}, unexpected "
                               f"{extra[:5]}" + (" (failed puts)" if set(extra) & failed_puts
                                                 else ""))
    return result


def _wrong_get(n: int, got: Any, oldest: Any, waiting: list[str], failed_puts: set[str],
               delivered: set[str]) -> str:
    if got in failed_puts:
        why = "whose put raised"
    elif got in delivered:
        why = "a second time"
    elif got is None:
        why = "(nothing)"
    elif got in waiting:
        skipped = waiting[:waiting.index(got)]
        why = f"skipping {len(skipped)} older waiting items {skipped[:3]} (lost or reordered)"
    else:
        why = "that is not waiting (a get that raised had taken it, or an earlier get " \
              "skipped it)"
    return f"operation {n}: get returned {got!r} {why}; the oldest waiting item is {oldest!r}"
