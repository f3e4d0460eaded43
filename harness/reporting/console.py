"""Where a command's results go and what it shows while it works: run folders that no two runs
share, directories checked before anything runs, files replaced whole, a stdout that may be
closed, and the progress line."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from ..errors import UsageError

#: The commands' exit codes: valid, a violation found, bad arguments or a run not done.
EXIT_VALID, EXIT_VIOLATION, EXIT_FAILED = 0, 1, 2


def exit_code(valid: bool | None) -> int:
    """The exit code of a verdict: valid, a violation, or no verdict."""
    return {True: EXIT_VALID, False: EXIT_VIOLATION, None: EXIT_FAILED}[valid]


def print_report(data: dict[str, Any], as_json: bool, render: Callable[[dict[str, Any]], str]
                 ) -> None:
    """Print a report as JSON, or as ``render`` shows it to a person."""
    console.say(json.dumps(data, indent=2) if as_json else render(data))


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


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


#: The commands' stdout.
console = Console()
