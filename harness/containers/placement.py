"""Where a stress run's workers run when they run in containers, and the files they need there."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import harness
import queue_core
from queue_core.roles.settings import integer

from ..flags import Flag, setting, to_argv
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


#: The placement flags a rerun does not repeat.
_NOT_AGAIN = ("--keep", "--namespace")


def _user_ids(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(user) for user in text.split(",") if user.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of user "
                                         "ids") from None


def _on_kubernetes(placement: Placement) -> bool:
    return placement.on == "kubernetes"


def _several_users(placement: Placement) -> bool:
    return bool(placement.users)


@dataclass(frozen=True)
class Placement:
    """Containers to run the workers in: the platform, the image, the layout on Kubernetes,
    the user ids the containers run as (in turn; none: the image's user), and what to keep."""

    #: The platform; ``--on`` chooses it (``harness.containers.options``), or local processes.
    on: str = "docker"
    image: str = setting(DEFAULT_IMAGE, Flag(
        "--image", "containers: any image with python3 3.11 or newer", "IMAGE", str))
    layout: str = setting("pod", Flag(
        "--layout", "kubernetes: one Pod of N+M containers sharing an emptyDir (pod), or N+M "
        "Pods on one node sharing a hostPath or --claim (pods)", None, str, choices=LAYOUTS,
        applies=_on_kubernetes, applies_when="to --on kubernetes"))
    users: tuple[int, ...] = setting((), Flag(
        "--users", "containers: run them as these user ids in turn, sharing the queue through "
        "one group (--group, a Pod's fsGroup) with umask 002", "UID,...", _user_ids,
        show=lambda users: ",".join(map(str, users))))
    group: int = setting(DEFAULT_GROUP, Flag(
        "--group", "with --users: the group they share", "GID", integer,
        applies=_several_users, applies_when="with --users"))
    #: Kubernetes: the namespace to create (None: a new name), and a ReadWriteMany claim to
    #: share instead of a hostPath (layout ``pods``).
    namespace: str | None = setting(None, Flag(
        "--namespace", "kubernetes: the namespace to create for the run (default: new)", "NAME",
        str, applies=_on_kubernetes, applies_when="to --on kubernetes"))
    claim: str | None = setting(None, Flag(
        "--claim", "kubernetes, layout pods: a ReadWriteMany claim to share instead of a "
        "hostPath", "PVC", str, applies=_on_kubernetes, applies_when="to --on kubernetes"))
    #: Leave every container, Pod, volume and namespace in place at the end.
    keep: bool = setting(False, Flag(
        "--keep", "containers: leave every container, Pod, volume and namespace the run "
        "created"))

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

    def user(self, index: int) -> int | None:
        """The user id of the ``index``-th container, or None for the image's own."""
        return self.users[index % len(self.users)] if self.users else None

    def flags(self) -> list[str]:
        """The command-line flags that choose this placement again (not what to keep, nor the
        namespace, which a run creates for itself)."""
        return ["--on", self.on, *to_argv(self, lambda flag: flag.name not in _NOT_AGAIN)]


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
