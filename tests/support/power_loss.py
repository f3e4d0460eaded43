"""The power-loss model (``harness.disk.fsmodel``) on a queue directory that already holds
files: what is there counts as durable (what an earlier power loss left is all on disk), and
every file-changing call from then on is recorded, so that the states a power loss may leave
can be built and opened."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.disk import fileops, fsmodel
from queue_core import FileQueue


class Recording:
    """Records every file-changing call in ``directory`` from now on; ``fail_next`` makes a
    chosen call fail instead (it is not recorded: it changed nothing)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.recorder = fsmodel.Recorder(self.directory)
        self.calls = 0
        self._faults: list[tuple[str, bool, str | None, int]] = []
        for path in sorted(self.directory.iterdir()):
            if not stat.S_ISREG(path.lstat().st_mode):
                continue
            inode = self.recorder._file(path.stat().st_ino)
            self.recorder.ops += [
                fsmodel.Op(-1, "create", inode, path.name),
                fsmodel.Op(-1, "write", inode, path.name, offset=0, data=path.read_bytes()),
                fsmodel.Op(-1, "fsync", inode, path.name)]
        self.recorder.ops.append(fsmodel.Op(-1, "dirsync"))

    def fail_next(self, kind: str, *, directory: bool = False, name: str | None = None,
                  code: int = errno.EIO) -> None:
        """The next call of ``kind`` on the directory (or on the file ``name``) raises
        ``OSError(code)``."""
        self._faults.append((kind, directory, name, code))

    def _hook(self, call: fileops.FileCall, perform: Callable[..., Any]) -> Any:
        if call.path is None:
            return perform()
        for fault in self._faults:
            kind, directory, name, code = fault
            if call.kind == kind and ((directory and os.path.isdir(call.path))
                                      or os.path.basename(call.path) == name):
                self._faults.remove(fault)
                raise OSError(code, os.strerror(code), call.path)
        self.calls += 1
        return self.recorder.perform(self.calls - 1, call, perform)

    @contextmanager
    def intercepting(self) -> Iterator[None]:
        """Record (and fail as asked) the calls made inside the ``with`` block."""
        with fileops.intercept(self._hook):
            yield

    def after_power_loss(self, into: Path, look: Callable[[FileQueue], Any],
                         **options: Any) -> list[tuple[str, Any]]:
        """For each state a power loss now may leave: (what was lost, ``look(queue)`` on the
        queue opened there with ``options``, or the error that opening or looking raised)."""
        found = []
        for n, (label, files) in enumerate(fsmodel.power_loss_states(self.recorder.ops,
                                                                     self.calls)):
            state = into / f"state-{n}"
            fsmodel.materialize(files, state)
            try:
                with FileQueue(state / "tasks.json", **options) as queue:
                    found.append((label, look(queue)))
            except Exception as error:  # any failure to open is a finding
                found.append((label, f"{type(error).__name__}: {error}"))
        return found


def drained(queue: FileQueue) -> list[Any]:
    """Every item ``queue.get`` hands out, in order."""
    return list(iter(queue.get, None))
