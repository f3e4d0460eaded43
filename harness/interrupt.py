"""Signals to the harness itself: SIGTERM, SIGINT and SIGHUP become a stop request that the
harness's loops read at their next step, never an exception in the middle of bookkeeping."""

from __future__ import annotations

import signal
from types import FrameType

#: The signals that ask the harness to stop, and the exit code each one ends with.
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


class StopRequest:
    """Catches the stop signals while installed; ``signum`` is the first one received."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        """True once a stop signal arrived."""
        return self.signum is not None

    @property
    def reason(self) -> str:
        """The request in words, e.g. ``interrupted by SIGTERM``."""
        return "" if self.signum is None else f"interrupted by {signal.Signals(self.signum).name}"

    @property
    def exit_code(self) -> int:
        """128 plus the signal's number (130 for SIGINT, 143 for SIGTERM)."""
        return EXIT_CODES.get(self.signum or 0, 128 + (self.signum or 0))

    def install(self) -> StopRequest:
        """Catch the stop signals from now on (in the main thread); returns itself."""
        for signum in EXIT_CODES:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def restore(self) -> None:
        """Put back the handlers that were there before ``install``."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def request(self, signum: int) -> None:
        """Ask for a stop as if ``signum`` had arrived."""
        if self.signum is None:
            self.signum = signum

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.request(signum)


def ignore_stop_signals_in_worker() -> None:
    """In a worker process: leave SIGINT (a Ctrl-C reaches the whole process group) to the
    harness, and let SIGTERM and SIGHUP end the worker at once, as their defaults do."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
