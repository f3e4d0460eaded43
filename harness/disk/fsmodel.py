"""What a power loss may leave of one directory: a small model after the ALICE study.

ALICE (Pillai et al., "All File Systems Are Not Created Equal: On the Complexity of Crafting
Crash-Consistent Applications", OSDI 2014) replays an application's system calls and asks
which on-disk states a crash may leave, given what the file system promises. This model
keeps the part of it that every POSIX file system honours, and nothing more:

- a file's content (``write``, ``pwrite``, ``ftruncate``) is durable once the file was
  ``fsync``ed (or ``fdatasync``ed) after the change; until then each change may be missing;
- a directory entry (a create, a rename, a link, an unlink) is durable once the directory
  was ``fsync``ed after it; until then it may be missing, even if the file itself was synced.

``Recorder`` turns the calls seen by ``fileops`` into ``Op``s, each tagged with its point (the
index of the file-changing call it came from). ``power_loss_states(ops, k)`` gives, for a power
loss just before point ``k``, the states to check: nothing unsynced lost (what a process
crash leaves); every unsynced change lost; every unsynced write lost (the entries kept);
every unsynced directory change lost (the writes kept); each unsynced change lost alone; and
the unsynced changes kept in order up to each one (a file system that persists in order).
It does not model torn or reordered sector writes inside one ``write``, nor every subset of
the unsynced changes: those multiply the states, and these families already catch a missing
``fsync`` of a file or of its directory.

The directory holds plain files only; it exists (and is durable) before the recorded run, as
a mounted volume does. Its files are named by their base name; inodes by their number.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fileops import REAL, FileCall

DATA = frozenset({"write", "truncate"})
ENTRIES = frozenset({"create", "rename", "link", "unlink"})


@dataclass(frozen=True)
class Op:
    """One change to the directory or its files, as the model replays it."""

    point: int
    #: ``create``, ``write``, ``truncate``, ``rename``, ``link``, ``unlink``, ``fsync``,
    #: ``dirsync``.
    kind: str
    #: The file: its inode number and how many files had that number before (numbers are
    #: reused once a file is gone).
    inode: str = ""
    name: str = ""
    #: ``rename``, ``link``: the new name.
    target: str = ""
    offset: int = 0
    data: bytes = b""
    length: int = 0

    def describe(self) -> str:
        if self.kind == "write":
            return f"write of {len(self.data)} bytes at {self.offset} to {self.name}"
        if self.kind == "truncate":
            return f"truncate of {self.name} to {self.length}"
        if self.kind in ("rename", "link"):
            return f"{self.kind} {self.name} -> {self.target}"
        return f"{self.kind} {self.name}"


@dataclass
class Recorder:
    """Makes each intercepted call and records what it did to ``directory`` as ``Op``s."""

    directory: Path
    ops: list[Op] = field(default_factory=list)
    _files: dict[int, str] = field(default_factory=dict)
    _numbered: Counter[int] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.directory = Path(os.path.realpath(self.directory))

    def seed(self) -> None:
        """Take the files already in the directory as there and durable, as if created,
        written and synced (and the directory synced) before the first recorded call."""
        for name in sorted(os.listdir(self.directory)):
            path = self.directory / name
            if not path.is_file():
                continue
            inode = self._file(os.stat(path).st_ino, new=True)
            self.ops += [Op(-1, "create", inode, name),
                         Op(-1, "write", inode, name, data=path.read_bytes()),
                         Op(-1, "fsync", inode, name)]
        self.ops.append(Op(-1, "dirsync"))

    def _file(self, number: int, *, new: bool = False) -> str:
        """The identity of the live file with inode ``number`` (a new one for a create)."""
        if new or number not in self._files:
            self._files[number] = f"{number}.{self._numbered[number]}"
            self._numbered[number] += 1
        return self._files[number]

    def _name(self, path: str | None) -> str | None:
        if path is None:
            return None
        full = Path(os.path.realpath(os.path.join(os.getcwd(), path)))
        return full.name if full.parent == self.directory else None

    def perform(self, point: int, call: FileCall, perform: Callable[..., Any],
                data: Any = None) -> Any:
        """Make the call (a write with ``data`` instead when given) and record its effect."""
        if call.kind in ("open", "replace", "rename", "link", "unlink", "truncate"):
            return self._path_call(point, call, perform)
        return self._descriptor_call(point, call, perform, data)

    def _path_call(self, point: int, call: FileCall, perform: Callable[..., Any]) -> Any:
        """A call on a path: open (with create or truncate), rename, link, unlink, truncate."""
        kind = call.kind
        name = self._name(call.path)
        if kind == "open":
            existed = os.path.lexists(call.path)
            fd = perform()
            if name is not None:
                inode = self._file(os.fstat(fd).st_ino, new=not existed)
                if not existed:
                    self.ops.append(Op(point, "create", inode, name))
                elif call.flags & os.O_TRUNC:
                    self.ops.append(Op(point, "truncate", inode, name, length=0))
            return fd
        if kind in ("replace", "rename", "link"):
            inode = self._file(os.stat(call.path).st_ino)
            result = perform()
            target = self._name(call.target)
            if name is not None and target is not None:
                self.ops.append(Op(point, "link" if kind == "link" else "rename", inode, name,
                                   target))
            return result
        if kind == "unlink":
            result = perform()
            if name is not None:
                self.ops.append(Op(point, "unlink", name=name))
            return result
        if kind == "truncate":
            inode = self._file(os.stat(call.path).st_ino)
            result = perform()
            if name is not None:
                self.ops.append(Op(point, "truncate", inode, name, length=call.length))
            return result
        raise ValueError(f"not a call on a path: {kind}")

    def _descriptor_call(self, point: int, call: FileCall, perform: Callable[..., Any],
                         data: Any) -> Any:
        """A call on a descriptor: fsync, fdatasync, ftruncate, write, pwrite."""
        kind = call.kind
        name = self._name(call.path)
        status = os.fstat(call.fd)
        inode = self._file(status.st_ino)
        if kind in ("fsync", "fdatasync"):
            result = perform()
            if stat.S_ISDIR(status.st_mode):
                if Path(os.path.realpath(call.path or "")) == self.directory:
                    self.ops.append(Op(point, "dirsync"))
            elif name is not None:
                self.ops.append(Op(point, "fsync", inode, name))
            return result
        if kind == "ftruncate":
            result = perform()
            if name is not None:
                self.ops.append(Op(point, "truncate", inode, name, length=call.length))
            return result
        written_bytes = bytes(call.data if data is None else data)
        count = perform(data)
        if name is not None:
            appends = fcntl.fcntl(call.fd, fcntl.F_GETFL) & os.O_APPEND
            if kind == "pwrite" and not appends:
                offset = call.offset
            elif appends:  # Linux appends even a pwrite on an O_APPEND descriptor
                offset = os.fstat(call.fd).st_size - count
            else:
                offset = os.lseek(call.fd, 0, os.SEEK_CUR) - count
            self.ops.append(Op(point, "write", inode, name, offset=offset,
                               data=written_bytes[:count]))
        return count


def unsynced(ops: list[Op]) -> list[int]:
    """The indexes in ``ops`` of the changes that a power loss after the last one may lose."""
    file_synced: dict[str, int] = {}
    directory_synced = -1
    for index, op in enumerate(ops):
        if op.kind == "fsync":
            file_synced[op.inode] = index
        elif op.kind == "dirsync":
            directory_synced = index
    return [i for i, op in enumerate(ops)
            if (op.kind in DATA and i > file_synced.get(op.inode, -1))
            or (op.kind in ENTRIES and i > directory_synced)]


def replay(ops: list[Op], lost: frozenset[int] = frozenset()) -> dict[str, bytes]:
    """The directory's files (name to content) after ``ops``, skipping the indexes in
    ``lost``. A rename whose source entry was lost still links its inode at the target."""
    entries: dict[str, str] = {}
    contents: dict[str, bytearray] = {}
    for index, op in enumerate(ops):
        if index in lost:
            continue
        if op.kind == "create":
            entries[op.name] = op.inode
            contents.setdefault(op.inode, bytearray())
        elif op.kind == "write":
            content = contents.setdefault(op.inode, bytearray())
            end = op.offset + len(op.data)
            if len(content) < op.offset:
                content.extend(bytes(op.offset - len(content)))  # a hole reads as zeros
            content[op.offset:end] = op.data
        elif op.kind == "truncate":
            content = contents.setdefault(op.inode, bytearray())
            del content[op.length:]
            content.extend(bytes(op.length - len(content)))
        elif op.kind == "rename":
            entries.pop(op.name, None)
            entries[op.target] = op.inode
        elif op.kind == "link":
            entries[op.target] = op.inode
        elif op.kind == "unlink":
            entries.pop(op.name, None)
    return {name: bytes(contents.get(inode, b"")) for name, inode in entries.items()}


def power_loss_states(ops: list[Op], point: int) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(what was lost, the directory's files) for a power loss just before call ``point``,
    each distinct state once."""
    done = [op for op in ops if op.point < point]
    pending = unsynced(done)
    choices = [("nothing lost", frozenset()), ("every unsynced change lost", frozenset(pending)),
               ("every unsynced write lost", frozenset(i for i in pending
                                                       if done[i].kind in DATA)),
               ("every unsynced directory change lost",
                frozenset(i for i in pending if done[i].kind in ENTRIES))]
    choices += [(f"lost alone: {done[i].describe()}", frozenset({i})) for i in pending]
    choices += [(f"kept in order up to: {done[pending[n - 1]].describe()}",
                 frozenset(pending[n:])) for n in range(1, len(pending))]
    seen: set[frozenset[tuple[str, bytes]]] = set()
    for label, lost in choices:
        files = replay(done, lost)
        key = frozenset(files.items())
        if key not in seen:
            seen.add(key)
            yield label, files


def materialize(files: dict[str, bytes], directory: Path) -> None:
    """Write ``files`` into the new directory ``directory`` (with the real ``os`` calls)."""
    directory.mkdir(parents=True)
    for name, content in files.items():
        fd = REAL["open"](directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(content)
            while view:
                view = view[REAL["write"](fd, view):]
        finally:
            REAL["close"](fd)
