"""How a role runs: its one runner (flags, logging, signals, errors) and its stop conditions."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

from ..errors import QueueError, QueueNotFoundError

log = logging.getLogger(__name__)


class Lifecycle:
    """Stop conditions for a loop, and sleeps that end early when it is told to stop.

    ``clock`` is injectable for tests; it must be monotonic, in seconds.
    """

    def __init__(
        self, duration: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._deadline = None if duration is None else clock() + duration
        self._stop = threading.Event()
        self.stop_reason: str | None = None

    def handle_signals(self) -> None:
        """Make SIGTERM and SIGINT request a stop at the next safe point (as PID 1 too)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def stop(self, reason: str) -> None:
        """Ask the loop to stop; sleeps in progress end now."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """True once a stop was asked for or the time budget is spent."""
        if self._deadline is not None and self._clock() >= self._deadline:
            self.stop("duration reached")
        return self._stop.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True if the whole wait passed, False if it ended by a stop."""
        if self._deadline is not None:
            remaining = self._deadline - self._clock()
            if remaining < seconds:
                self._stop.wait(max(remaining, 0.0))
                self.stop("duration reached")
                return False
        return not self._stop.wait(seconds)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop(f"received {signal.Signals(signum).name}")


def configure_logging(role: str) -> None:
    """Send log records to stdout, one flushed line per event, tagged with ``role``."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s {role}: %(message)s")
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


#: A role's work: given its parsed flags and its lifecycle, run until stopped; return the
#: line to log when it ends (``None`` for nothing).
RoleBody = Callable[[argparse.Namespace, "Lifecycle"], "str | None"]


def run_role(
    role: str, parser: argparse.ArgumentParser, argv: Sequence[str] | None, body: RoleBody
) -> int:
    """Run one role: parse ``argv``, log to stdout, stop on SIGTERM or SIGINT, run ``body``.

    Exit code 0 after a clean stop; 1, with one logged line and no traceback, when the queue
    or one of the role's files cannot be used (``QueueError`` or ``OSError``); 2 for bad flags,
    and, with one logged line, when there is no queue where the role only reads one
    (``QueueNotFoundError``).
    """
    args = parser.parse_args(argv)
    configure_logging(role)
    life = Lifecycle(getattr(args, "duration", None))
    life.handle_signals()
    try:
        ending = body(args, life)
    except QueueNotFoundError as error:
        log.error("%s", error)
        return 2
    except (QueueError, OSError) as error:
        log.error("%s", error)
        return 1
    if ending is not None:
        log.info("%s", ending)
    return 0
