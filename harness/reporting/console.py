"""Where a command's results go and what it shows while it works: run folders that no two runs
share, directories checked before anything runs, files replaced whole, a stdout that may be
closed, and the progress line."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from ..errors import UsageError
from ..stress.supervisor import Advance

#: The commands' exit codes: valid, a violation found, bad arguments or a run not done.
EXIT_VALID, EXIT_VIOLATION, EXIT_FAILED = 0, 1, 2

#: Seconds between two progress lines when the progress does not go to a terminal.
PLAIN_PROGRESS_EVERY = 10.0


def new_run_directory(root: Path = Path("harness-runs")) -> Path:
    """A new folder under ``root`` named after the time, unique even for runs started at the
    same instant (a random suffix, created exclusively)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        root.mkdir(parents=True, exist_ok=True)
        while True:
            path = root / f"{stamp}-{os.getpid()}-{secrets.token_hex(2)}"
            with contextlib.suppress(FileExistsError):
                path.mkdir()
                return path
    except OSError as error:
        raise UsageError(f"cannot create a run folder in {root}: {_reason(error)}") from error


def usable_directory(path: Path, flag: str) -> Path:
    """``path``, created if missing, once a file could be written in it; ``UsageError`` naming
    ``flag`` and the reason otherwise."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise UsageError(f"{flag} {path}: {_reason(error)}") from error
    return path


def replace_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole: a reader sees the old content or the new, never half."""
    staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        staged.write_text(text, encoding="utf-8")
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)


class Console:
    """Prints to stdout; once the reader has gone (``| head``), the rest is dropped quietly."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self.closed = False

    @property
    def stream(self) -> TextIO:
        """The stream written to: the given one, else whatever ``sys.stdout`` is now."""
        return self._stream or sys.stdout

    def say(self, text: str) -> None:
        """Print ``text`` and a newline, flushed."""
        if self.closed:
            return
        try:
            print(text, file=self.stream, flush=True)
        except BrokenPipeError:
            self.closed = True
            # Python would report the pipe again when it flushes stdout at exit.
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())


class ProgressLine:
    """How far a run has come: a line rewritten in place on a terminal, a plain line every
    ``PLAIN_PROGRESS_EVERY`` seconds elsewhere (CI logs), nothing when ``quiet``."""

    def __init__(self, total: int, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.total = total
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.started = time.monotonic()
        self.next_plain = self.started + PLAIN_PROGRESS_EVERY
        self.shown = False

    def __call__(self, advance: Advance) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if not self.live and now < self.next_plain:
            return
        self.next_plain = now + PLAIN_PROGRESS_EVERY
        text = describe_progress(advance, self.total, now - self.started)
        with contextlib.suppress(OSError):
            if self.live:
                print(f"\r{text}\033[K", end="", file=self.stream, flush=True)
            else:
                print(text, file=self.stream, flush=True)
        self.shown = True

    def close(self) -> None:
        """End the live line, if one was shown."""
        if self.live and self.shown:
            with contextlib.suppress(OSError):
                print(file=self.stream, flush=True)


def describe_progress(advance: Advance, total: int, seconds: float) -> str:
    """``1234/20000 items (6%), 4100 items/s, 12 kills, 0 violations so far, ETA 4 s``."""
    rate = advance.taken / seconds if seconds > 0 else 0.0
    share = f" ({100 * advance.taken // total}%)" if total else ""
    left = total - advance.taken
    eta = f"{left / rate:.0f} s" if rate > 0 and left > 0 else "?" if left > 0 else "0 s"
    return (f"{advance.taken}/{total} items{share}, {rate:.0f} items/s, {advance.kills} kills, "
            f"{advance.violations} violations so far, ETA {eta}")


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


#: The commands' stdout.
console = Console()
