"""The ``stress`` flags that put the workers in containers, and the run they choose."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..errors import PlatformError, UsageError
from ..interrupt import StopRequest
from ..stress.run import StressConfig, StressRun
from ..stress.supervisor import Progress
from .placement import DEFAULT_GROUP, DEFAULT_IMAGE, LAYOUTS, Placement
from .platform import Platform

LOCAL = "local"
#: Container runs with kills, unless told otherwise: each producer puts this many items a
#: second (a container restarts in about a second, so an unpaced run would end before its
#: first kill), and consumers wait this long in get/claim instead of polling.
CONTAINER_RATE = 100.0
CONTAINER_BLOCK = 0.1


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--on``, ``--image``, ``--layout``, ``--users``, ``--group``, ``--namespace``,
    ``--claim`` and ``--keep`` to the ``stress`` command."""
    group = parser.add_argument_group("containers (the workers where the queue runs)")
    group.add_argument("--on", choices=(LOCAL, "docker", "kubernetes"), default=LOCAL,
                       help="run each producer and consumer as a local process (default), a "
                       "Docker container, or a container on the current kubeconfig context's "
                       "cluster; killed workers are restarted by the restart policy")
    group.add_argument("--image", default=DEFAULT_IMAGE, metavar="IMAGE",
                       help="containers: any image with python3 3.11 or newer "
                       "(default %(default)s)")
    group.add_argument("--layout", choices=LAYOUTS, default="pod",
                       help="kubernetes: one Pod of N+M containers sharing an emptyDir (pod, "
                       "default), or N+M Pods on one node sharing a hostPath or --claim (pods)")
    group.add_argument("--users", default="", metavar="UID,...",
                       help="containers: run them as these user ids in turn, sharing the queue "
                       "through one group (--group, a Pod's fsGroup) with umask 002")
    group.add_argument("--group", type=int, default=DEFAULT_GROUP, metavar="GID",
                       help="with --users: the group they share (default %(default)s)")
    group.add_argument("--namespace", default=None, metavar="NAME",
                       help="kubernetes: the namespace to create for the run (default: new)")
    group.add_argument("--claim", default=None, metavar="PVC",
                       help="kubernetes, layout pods: a ReadWriteMany claim to share instead "
                       "of a hostPath")
    group.add_argument("--keep", action="store_true",
                       help="containers: leave every container, Pod, volume and namespace the "
                       "run created")


def placement_from(args: argparse.Namespace) -> Placement | None:
    """The containers the flags ask for (None: local processes); ``UsageError`` otherwise."""
    if args.on == LOCAL:
        given = [flag for flag, value in (("--users", args.users), ("--namespace", args.namespace),
                                          ("--claim", args.claim), ("--keep", args.keep))
                 if value]
        if given:
            raise UsageError(f"{', '.join(given)} apply to --on docker or kubernetes only")
        return None
    try:
        users = tuple(int(user) for user in args.users.split(",") if user.strip())
    except ValueError as error:
        raise UsageError(f"--users {args.users}: a comma-separated list of user ids") from error
    try:
        return Placement(on=args.on, image=args.image, layout=args.layout, users=users,
                         group=args.group, namespace=args.namespace, claim=args.claim,
                         keep=args.keep)
    except ValueError as error:
        raise UsageError(f"--on {args.on}: {error}") from error


def container_defaults(config: StressConfig) -> StressConfig:
    """``config`` with the pace and the waits of a container run where its flags left them
    unset: consumers block (``CONTAINER_BLOCK``), and with kills producers are paced
    (``CONTAINER_RATE``)."""
    changes: dict[str, float] = {}
    if config.block is None:
        changes["block"] = CONTAINER_BLOCK
    if config.rate is None and config.kill_every_ms is not None:
        changes["rate"] = CONTAINER_RATE
    return dataclasses.replace(config, **changes)


def platform_for(placement: Placement, workdir: Path) -> Platform:
    """The platform that runs ``placement``'s containers."""
    if placement.on == "docker":
        from .docker import DockerPlatform

        return DockerPlatform(placement, workdir)
    from .kubernetes import KubernetesPlatform

    return KubernetesPlatform(placement)


def run_placed(config: StressConfig, placement: Placement, workdir: Path,
               progress: Progress | None, stop: StopRequest | None,
               keep_history_in: Path | None) -> StressRun:
    """``run_in_containers`` with the platform ``placement`` names; ``UsageError`` when the run
    cannot go there."""
    from .run import refuse_unless_containable, run_in_containers

    try:
        refuse_unless_containable(config)
    except ValueError as error:
        raise UsageError(f"--on {placement.on}: {error}") from error
    try:
        return run_in_containers(config, placement, platform_for(placement, workdir),
                                 progress, stop, keep_history_in)
    except PlatformError as error:
        raise UsageError(f"--on {placement.on}: {error}") from error
