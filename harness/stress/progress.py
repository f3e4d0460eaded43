"""How far a run has come, and the line that shows it while it works."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from typing import NamedTuple, TextIO

#: Seconds between two progress lines when the progress does not go to a terminal.
PLAIN_PROGRESS_EVERY = 10.0


class Advance(NamedTuple):
    """How far a run has come: operations recorded, items taken (got or acked), kills, and
    violations already certain."""

    operations: int
    taken: int
    kills: int
    violations: int


#: Called with the run's ``Advance`` about twice a second.
Progress = Callable[[Advance], None]


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
