"""A disk that fails on request: the queue's file-changing calls, patched in this process."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

CALLS = ("write", "pwrite", "fsync", "ftruncate", "replace")


@dataclass
class Fault:
    call: str
    #: An errno to raise, or "short": write half of the bytes and return that count.
    kind: int | str
    #: Only calls on the file of this base name, or, ending with "*", of names starting so
    #: (None: any file).
    file: str | None
    #: How many more calls fail (None: every one until ``heal``).
    left: int | None
    #: How many matching calls pass before the first that fails.
    after: int = 0


class FaultyDisk:
    """``fail(call, kind, file=..., times=...)`` makes the next matching calls fail."""

    def __init__(self, monkeypatch) -> None:
        self.faults: list[Fault] = []
        #: (call, file name) of every fault injected so far.
        self.injected: list[tuple[str, str]] = []
        for call in CALLS:
            monkeypatch.setattr(os, call, self._wrap(call, getattr(os, call)))

    def fail(self, call: str, kind: int | str, *, file: str | None = None,
             times: int | None = 1, after: int = 0) -> None:
        self.faults.append(Fault(call, kind, file, times, after))

    def heal(self) -> None:
        self.faults.clear()

    def _wrap(self, call, real):
        def faulty(*args):
            name = _name(call, args)
            for fault in self.faults:
                if fault.call == call and _matches(name, fault.file):
                    if fault.after:
                        fault.after -= 1
                        break
                    if fault.left is not None:
                        fault.left -= 1
                        if fault.left == 0:
                            self.faults.remove(fault)
                    self.injected.append((call, name))
                    if fault.kind == "short":
                        data = args[1][:len(args[1]) // 2]
                        return real(args[0], data, *args[2:])
                    raise OSError(fault.kind, os.strerror(fault.kind))
            return real(*args)
        return faulty


def _matches(name: str, pattern: str | None) -> bool:
    if pattern is None:
        return True
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return name == pattern


def _name(call: str, args: tuple) -> str:
    """The base name of the file the call changes."""
    if call == "replace":
        return os.path.basename(os.fspath(args[1]))
    try:
        return os.path.basename(os.readlink(f"/proc/self/fd/{args[0]}"))
    except OSError:
        return ""


ERRNOS = {
    "ENOSPC": errno.ENOSPC,
    "EDQUOT": errno.EDQUOT,
    "EIO": errno.EIO,
    "EROFS": errno.EROFS,
    "EACCES": errno.EACCES,
}
