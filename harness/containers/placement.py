"""Where a stress run's workers run when they run in containers, and the files they need there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import harness
import queue_core

from . import inside as incontainer

#: Where the shipped code and the shared volume are mounted in every container.
CODE_MOUNT = "/opt/queue"
SHARED_MOUNT = "/shared"
#: Every container's environment: the shipped code on the path, no bytecode written into its
#: read-only mount, output unbuffered.
ENVIRONMENT = {"PYTHONPATH": CODE_MOUNT, "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONUNBUFFERED": "1"}
#: The shipped entry point.
ENTRY = ("python3", "-m", "harness.containers.inside")
#: The platforms and the Kubernetes layouts.
PLATFORMS = ("docker", "kubernetes")
LAYOUTS = ("pod", "pods")
DEFAULT_IMAGE = "python:3.11-alpine"
#: The group every worker shares the queue through when the workers run as several users
#: (the Pod's ``fsGroup``).
DEFAULT_GROUP = 2000
#: The largest user or group id Docker and Kubernetes take.
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class Placement:
    """Containers to run the workers in: the platform, the image, the layout on Kubernetes,
    the user ids the containers run as (in turn; none: the image's user), and what to keep."""

    on: str = "docker"
    image: str = DEFAULT_IMAGE
    layout: str = "pod"
    users: tuple[int, ...] = ()
    group: int = DEFAULT_GROUP
    #: Kubernetes: the namespace to create (None: a new name), and a ReadWriteMany claim to
    #: share instead of a hostPath (layout ``pods``).
    namespace: str | None = None
    claim: str | None = None
    #: Leave every container, Pod, volume and namespace in place at the end.
    keep: bool = False

    def __post_init__(self) -> None:
        if self.on not in PLATFORMS:
            raise ValueError(f"on must be {' or '.join(PLATFORMS)}, not {self.on!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be {' or '.join(LAYOUTS)}, not {self.layout!r}")
        if self.on == "docker" and self.layout != "pod":
            raise ValueError("the layout pods needs Kubernetes (--on kubernetes)")
        if self.claim is not None and self.layout != "pods":
            raise ValueError("a claim is shared by the layout pods only")
        for kind, ids in (("user", self.users), ("group", (self.group,))):
            wrong = [i for i in ids if not 0 <= i <= MAX_ID]
            if wrong:
                raise ValueError(f"{kind} ids are whole numbers from 0 to {MAX_ID}, not "
                                 f"{', '.join(map(str, wrong))}")
        if self.on == "docker" and (self.namespace or self.claim):
            raise ValueError("--namespace and --claim apply to --on kubernetes only")

    def user(self, index: int) -> int | None:
        """The user id of the ``index``-th container, or None for the image's own."""
        return self.users[index % len(self.users)] if self.users else None

    def flags(self) -> list[str]:
        """The command-line flags that choose this placement."""
        flags = [f"--on {self.on}", f"--image {self.image}"]
        if self.on == "kubernetes":
            flags.append(f"--layout {self.layout}")
        if self.users:
            flags.append(f"--users {','.join(map(str, self.users))} --group {self.group}")
        if self.claim:
            flags.append(f"--claim {self.claim}")
        return flags


def shipped_files() -> dict[str, str]:
    """Every file a container needs, by its path under ``CODE_MOUNT``: ``queue_core`` whole,
    and the harness modules the in-container worker runs (``incontainer.SHIPPED``)."""
    package = Path(queue_core.__file__).parent
    harness_root = Path(harness.__file__).parent
    files = {path.relative_to(package.parent).as_posix(): path.read_text(encoding="utf-8")
             for path in sorted(package.rglob("*.py"))}
    for name in incontainer.SHIPPED:
        files[f"harness/{name}"] = (harness_root / name).read_text(encoding="utf-8")
    return files
