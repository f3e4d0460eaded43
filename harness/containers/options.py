"""The ``stress`` flags that put the workers in containers, and the run they choose."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..errors import PlatformError, UsageError
from ..flags import add_flags, flags_of, from_args
from ..interrupt import StopRequest
from ..stress.config import StressConfig
from ..stress.progress import Progress
from ..stress.run import StressRun
from .placement import PLATFORMS, Placement
from .platform import Platform

LOCAL = "local"
#: Container runs with kills, unless told otherwise: each producer puts this many items a
#: second (a container restarts in about a second, so an unpaced run would end before its
#: first kill), and consumers wait this long in get/claim instead of polling.
CONTAINER_RATE = 100.0
CONTAINER_BLOCK = 0.1


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--on`` and the flags of ``Placement`` to the ``stress`` command."""
    group = parser.add_argument_group("containers (the workers where the queue runs)")
    group.add_argument("--on", choices=(LOCAL, *PLATFORMS), default=LOCAL,
                       help="run each producer and consumer as a local process (default), a "
                       "Docker container, or a container on the current kubeconfig context's "
                       "cluster; killed workers are restarted by the restart policy")
    add_flags(group, Placement)


def placement_from(args: argparse.Namespace) -> Placement | None:
    """The containers the flags ask for (None: local processes); ``UsageError`` otherwise."""
    if args.on == LOCAL:
        given = [flag.name for field, flag in flags_of(Placement)
                 if getattr(args, field.name) is not None]
        if given:
            raise UsageError(f"{', '.join(given)} apply to --on docker or kubernetes only")
        return None
    try:
        return from_args(Placement, args, on=args.on)
    except UsageError as error:
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


def refuse_unless_placeable(config: StressConfig, placement: Placement) -> None:
    """``UsageError`` when the run cannot go into ``placement``'s containers (before anything
    is made for it)."""
    from .run import refuse_unless_containable

    try:
        refuse_unless_containable(config)
    except ValueError as error:
        raise UsageError(f"--on {placement.on}: {error}") from error


def run_placed(config: StressConfig, placement: Placement, workdir: Path,
               progress: Progress | None, stop: StopRequest | None,
               keep_history_in: Path | None) -> StressRun:
    """``run_in_containers`` with the platform ``placement`` names; ``UsageError`` when the run
    cannot go there."""
    from .run import run_in_containers

    refuse_unless_placeable(config, placement)
    try:
        return run_in_containers(config, placement, platform_for(placement, workdir),
                                 progress, stop, keep_history_in)
    except PlatformError as error:
        raise UsageError(f"--on {placement.on}: {error}") from error
