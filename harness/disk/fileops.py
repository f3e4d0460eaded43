"""Interception of the file-changing system calls a queue makes, for crash points and faults.

``intercept(hook)`` replaces, in the current process, the ``os`` functions that change files:
``open`` with ``O_CREAT``, ``write``, ``pwrite``, ``ftruncate``, ``truncate``, ``replace``,
``rename``, ``link``, ``fsync``, ``fdatasync`` and ``unlink``. Each such call becomes a
``FileCall`` handed to ``hook(call, perform)``: the hook decides what happens (``perform()``
makes the real call; ``perform(data)`` makes a write with other bytes, e.g. a prefix; the hook
may also raise, or end the process). ``os.open`` without ``O_CREAT``, ``os.dup`` and
``os.close`` are wrapped only to know which file a descriptor names, and ``os.fdopen`` in a
writing binary mode returns a small file object whose ``write`` goes through ``os.write`` (a
buffered file object writes from C, out of reach).

Calls on descriptors that were not opened through ``os.open`` while intercepting (pipes,
standard streams, files opened with ``open()``) have no known path and are passed to the hook
with ``path=None``; the hooks in this package leave them alone.

The patch is global to the process (``os`` is one module), so use it in a child process or
for a bounded section of a single-threaded one.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

#: The kinds of call a hook sees.
KINDS = ("open", "write", "pwrite", "ftruncate", "truncate", "replace", "rename", "link",
         "fsync", "fdatasync", "unlink")
WRITES = frozenset({"write", "pwrite"})
#: The real functions, whatever is patched later: the harness's own I/O uses these.
REAL: dict[str, Callable[..., Any]] = {
    name: getattr(os, name) for name in (*KINDS, "close", "dup", "fdopen")
}


@dataclass(frozen=True)
class FileCall:
    """One file-changing call, as a hook sees it before it is made."""

    kind: str
    #: The file's path as the call named it or as its descriptor was opened; for ``replace``,
    #: ``rename`` and ``link`` the source. ``None`` for a descriptor of unknown origin.
    path: str | None
    #: ``replace``/``rename``/``link``: the destination (``link``: the new name).
    target: str | None = None
    #: Writes: the number of bytes asked for.
    size: int = 0
    #: The descriptor the call acts on, or ``None`` for calls by path.
    fd: int | None = None
    #: ``open``: the flags.
    flags: int = 0
    #: Writes: the bytes; ``pwrite``: the offset; truncates: the length.
    data: Any = None
    offset: int | None = None
    length: int | None = None

    def describe(self) -> str:
        """``write(tasks.json, 57 bytes)``: the call in a few words."""
        name = os.path.basename(self.path) if self.path else "?"
        if self.kind in WRITES:
            return f"{self.kind}({name}, {self.size} bytes)"
        if self.target is not None:
            return f"{self.kind}({name} -> {os.path.basename(self.target)})"
        return f"{self.kind}({name})"


#: ``hook(call, perform)``: returns what the call returns. ``perform(data=None)`` makes the
#: real call (a write with ``data`` instead of its own bytes when given).
Hook = Callable[[FileCall, Callable[..., Any]], Any]


def caller_stack(skip_frames: int = 0, limit: int = 12) -> tuple[str, ...]:
    """The frames of the caller's callers (after skipping ``skip_frames`` more) as
    ``path:line in function``, innermost last, without this module's frames and without source
    lines (cheap enough to take at every call)."""
    frames = traceback.StackSummary.extract(
        traceback.walk_stack(sys._getframe(2 + skip_frames)), limit=limit + 4,
        lookup_lines=False)
    kept = [f for f in frames if not f.filename.endswith(f"harness{os.sep}fileops.py")][:limit]
    return tuple(f"{_short(f.filename)}:{f.lineno} in {f.name}" for f in reversed(kept))


def _short(filename: str) -> str:
    for root in ("queue_core", "harness"):
        marker = f"{os.sep}{root}{os.sep}"
        if marker in filename:
            return root + os.sep + filename.rsplit(marker, 1)[1]
    return filename


class _Interceptor:
    """The patched functions, sharing one table of descriptors to paths."""

    def __init__(self, hook: Hook) -> None:
        self.hook = hook
        self.paths: dict[int, str] = {}

    def _call(self, call: FileCall, real: Callable[..., Any], *args: Any) -> Any:
        def perform(data: Any = None) -> Any:
            if data is not None:
                return real(args[0], data, *args[2:])
            return real(*args)
        return self.hook(call, perform)

    def open(self, path: Any, flags: int, mode: int = 0o777, *, dir_fd: Any = None) -> int:
        name = os.fsdecode(os.fspath(path))
        if dir_fd is not None or not flags & os.O_CREAT:
            fd = REAL["open"](path, flags, mode, dir_fd=dir_fd)
        else:
            fd = self._call(FileCall("open", name, flags=flags), REAL["open"], path, flags, mode)
        self.paths[fd] = name
        return fd

    def close(self, fd: int) -> None:
        self.paths.pop(fd, None)
        REAL["close"](fd)

    def dup(self, fd: int) -> int:
        new = REAL["dup"](fd)
        if fd in self.paths:
            self.paths[new] = self.paths[fd]
        return new

    def write(self, fd: int, data: Any) -> int:
        call = FileCall("write", self.paths.get(fd), size=len(data), fd=fd, data=data)
        return self._call(call, REAL["write"], fd, data)

    def pwrite(self, fd: int, data: Any, offset: int) -> int:
        call = FileCall("pwrite", self.paths.get(fd), size=len(data), fd=fd, data=data,
                        offset=offset)
        return self._call(call, REAL["pwrite"], fd, data, offset)

    def ftruncate(self, fd: int, length: int) -> None:
        return self._call(FileCall("ftruncate", self.paths.get(fd), fd=fd, length=length),
                          REAL["ftruncate"], fd, length)

    def truncate(self, path: Any, length: int) -> None:
        if isinstance(path, int):
            return self.ftruncate(path, length)
        return self._call(FileCall("truncate", os.fsdecode(os.fspath(path)), length=length),
                          REAL["truncate"], path, length)

    def _move(self, kind: str, src: Any, dst: Any, **kwargs: Any) -> None:
        call = FileCall(kind, os.fsdecode(os.fspath(src)), target=os.fsdecode(os.fspath(dst)))
        return self._call(call, lambda *a: REAL[kind](*a, **kwargs), src, dst)

    def replace(self, src: Any, dst: Any, **kwargs: Any) -> None:
        return self._move("replace", src, dst, **kwargs)

    def rename(self, src: Any, dst: Any, **kwargs: Any) -> None:
        return self._move("rename", src, dst, **kwargs)

    def link(self, src: Any, dst: Any, **kwargs: Any) -> None:
        return self._move("link", src, dst, **kwargs)

    def fsync(self, fd: Any) -> None:
        fd = fd if isinstance(fd, int) else fd.fileno()
        return self._call(FileCall("fsync", self.paths.get(fd), fd=fd), REAL["fsync"], fd)

    def fdatasync(self, fd: Any) -> None:
        fd = fd if isinstance(fd, int) else fd.fileno()
        return self._call(FileCall("fdatasync", self.paths.get(fd), fd=fd),
                          REAL["fdatasync"], fd)

    def unlink(self, path: Any, *, dir_fd: Any = None) -> None:
        call = FileCall("unlink", os.fsdecode(os.fspath(path)))
        return self._call(call, lambda p: REAL["unlink"](p, dir_fd=dir_fd), path)

    def fdopen(self, fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "b" in mode and any(c in mode for c in "wa+") and not args and not kwargs:
            return _RawFile(fd)
        return REAL["fdopen"](fd, mode, *args, **kwargs)


class _RawFile:
    """``os.fdopen(fd, "wb")`` made of ``os`` calls: ``write`` loops over ``os.write`` until
    every byte is written, as a buffered file does, so that each call is seen."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def fileno(self) -> int:
        if self._fd is None:
            raise ValueError("I/O operation on closed file")
        return self._fd

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            done += os.write(self.fileno(), view[done:])
        return done

    def flush(self) -> None:
        self.fileno()

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    @property
    def closed(self) -> bool:
        return self._fd is None

    def __enter__(self) -> _RawFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def install(hook: Hook) -> Callable[[], None]:
    """Patch ``os`` so that every file-changing call goes through ``hook``; the function that
    puts the real ones back."""
    interceptor = _Interceptor(hook)
    interceptor.paths.update(open_descriptors())
    saved = {name: getattr(os, name) for name in REAL}
    for name in REAL:
        setattr(os, name, getattr(interceptor, name))

    def uninstall() -> None:
        for name, function in saved.items():
            setattr(os, name, function)
    return uninstall


def open_descriptors() -> dict[int, str]:
    """The files this process has open already, by descriptor (Linux's ``/proc``; empty
    elsewhere), so that calls on descriptors opened before ``install`` know their file."""
    found = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError, ValueError):
                target = os.readlink(f"/proc/self/fd/{entry}")
                if target.startswith("/"):
                    found[int(entry)] = target
    return found


@contextlib.contextmanager
def intercept(hook: Hook) -> Iterator[None]:
    """``install(hook)`` for the duration of a ``with`` block."""
    uninstall = install(hook)
    try:
        yield
    finally:
        uninstall()
