"""The heartbeat, as a worker sees it: a file the harness touches while it watches a run.

A worker left behind by a dead harness (in a container nobody stops) must end by itself.
It takes the harness for gone when the heartbeat's modification time is over
``ABANDONED_AFTER`` seconds old by its own wall clock, or has not changed for that long by
its own monotonic clock (the harness's clock may run ahead of the worker's: a time in the
future never looks old), or when the file it saw is gone (the shared volume was removed).
A heartbeat that never existed means nobody watches: the worker goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

#: Seconds without a heartbeat after which a worker takes its harness for gone.
ABANDONED_AFTER = 60.0


class Heartbeat:
    """The heartbeat file at ``path``, watched from one process."""

    def __init__(self, path: Path, *, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self._wall = wall
        self._monotonic = monotonic
        #: (the modification time last seen, the monotonic time it was first seen at)
        self._seen: tuple[int, float] | None = None

    def stopped(self) -> bool:
        """True once the harness stopped touching the file (see the module docstring)."""
        try:
            modified = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return self._seen is not None
        except OSError:
            return False  # a volume that fails now and then says nothing about the harness
        now = self._monotonic()
        if self._seen is None or self._seen[0] != modified:
            self._seen = (modified, now)
        unchanged_for = now - self._seen[1]
        return (self._wall() - modified / 1e9 > ABANDONED_AFTER
                or unchanged_for > ABANDONED_AFTER)
