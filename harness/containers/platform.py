"""What a platform that runs a stress run's containers does for the harness."""

from __future__ import annotations

import subprocess
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from .inside import KILL_REFUSED, KILLING


class NodeTime(NamedTuple):
    """An instant on a node's clock: the clock's domain (``clock_domain``) and its
    ``time.monotonic_ns()`` there. A worker's history is on its node's clock; so must be
    every time the harness adds to it (a kill, the end of the run)."""

    clock: str
    ns: int


def killed_at(done: subprocess.CompletedProcess) -> NodeTime | None:
    """When ``inside kill`` (run by ``done``) killed the worker, on the node's clock; None if
    it killed none. The exec may end with an error once the container ends with its worker:
    the line ``killing ...``, printed first, says the kill was made."""
    if done.returncode == KILL_REFUSED or not done.stdout.startswith(KILLING):
        return None
    return node_time(done.stdout.splitlines()[0])


def node_time(text: str) -> NodeTime | None:
    """The ``CLOCK NS`` at the end of a line ``inside`` printed (``kill``, ``clock``), or
    None if there is none."""
    parts = text.split()
    try:
        return NodeTime(parts[-2], int(parts[-1]))
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True)
class WorkerContainer:
    """One worker's container: its name, its role, its slot among its role, its command, and
    the user it runs as (None: the image's)."""

    name: str
    role: str
    slot: int
    command: tuple[str, ...]
    user: int | None


@dataclass
class Collected:
    """What the shared volume holds: every history file's text by name, and the exit code of
    every worker that ended by itself, by container name."""

    histories: dict[str, str]
    finished: dict[str, int]

    def starts(self) -> Counter[str]:
        """How many times each worker container has started (one history file per start)."""
        return Counter(name.rsplit(".", 2)[0] for name in self.histories
                       if name.count(".") == 2)


class Platform(Protocol):
    """Runs the containers of one stress run and reaches their shared volume.

    Every worker container restarts when its worker is killed (the restart policy) and stays
    ended once its worker ended by itself.
    """

    #: Seconds between two looks at the volume's markers.
    poll_seconds: float

    def start(self, workers: list[WorkerContainer]) -> None:
        """Ship the code, create the shared volume, start every worker container."""

    def kill(self, worker: WorkerContainer) -> NodeTime | None:
        """SIGKILL the worker now running in ``worker``'s container: when, on its node's
        clock; None if none was running (its container was restarting, or it had ended)."""

    def touch(self, marker: str) -> None:
        """Create ``marker`` (a file name) at the root of the shared volume."""

    def status(self) -> Collected:
        """The finished markers and the names of the history files so far (their texts may be
        left empty), and touch the heartbeat: cheap enough to call a few times a second."""

    def stop_workers(self) -> None:
        """End every worker container for good (no restart); return once they have ended."""

    def node_clock(self) -> NodeTime:
        """The clock of the node where the workers run, now."""

    def run_drain(self, command: tuple[str, ...]) -> None:
        """Run ``command`` in one more container on the shared volume, to its end."""

    def collect(self) -> Collected:
        """Every history file and finished marker on the shared volume."""

    def describe(self) -> dict[str, object]:
        """What the report says about where the run ran (platform, image, names)."""

    def remove(self) -> None:
        """Remove everything this platform created (unless told to keep it)."""
