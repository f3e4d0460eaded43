"""What a platform that runs a stress run's containers does for the harness."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Protocol


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

    def kill(self, worker: WorkerContainer) -> bool:
        """SIGKILL the worker now running in ``worker``'s container; False if none was
        running (its container was restarting, or it had ended)."""

    def touch(self, marker: str) -> None:
        """Create ``marker`` (a file name) at the root of the shared volume."""

    def status(self) -> Collected:
        """The finished markers and the names of the history files so far (their texts may be
        left empty), and touch the heartbeat: cheap enough to call a few times a second."""

    def stop_workers(self) -> None:
        """End every worker container for good (no restart); return once they have ended."""

    def run_drain(self, command: tuple[str, ...]) -> None:
        """Run ``command`` in one more container on the shared volume, to its end."""

    def collect(self) -> Collected:
        """Every history file and finished marker on the shared volume."""

    def describe(self) -> dict[str, object]:
        """What the report says about where the run ran (platform, image, names)."""

    def remove(self) -> None:
        """Remove everything this platform created (unless told to keep it)."""
