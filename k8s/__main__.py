"""``python -m k8s render``: write the manifest (to stdout, or to ``--output``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from queue_core.settings import positive_float, positive_int

from .render import PodOptions, render


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, render, write; exit code 0, or 2 for bad arguments."""
    parser = argparse.ArgumentParser(prog="python -m k8s", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cmd = commands.add_parser("render", help="write the ConfigMap and the Pod as YAML")
    cmd.add_argument("--image", default=PodOptions.image, help="container image "
                     f"(default {PodOptions.image})")
    cmd.add_argument("--consumers", type=positive_int, default=2, metavar="N",
                     help="consumer containers (default 2)")
    cmd.add_argument("--time-scale", type=positive_float, default=1.0, metavar="F",
                     help="factor on every sleep of the roles (default 1.0)")
    cmd.add_argument("--namespace", default=None, help="metadata.namespace (default none)")
    cmd.add_argument("--restart-policy", choices=("Always", "OnFailure", "Never"),
                     default="Always", help="the Pod's restartPolicy (default Always)")
    cmd.add_argument("--monitor-json", action="store_true",
                     help="the monitor prints each report as one JSON line")
    cmd.add_argument("--max-tasks", type=positive_int, default=None, metavar="N",
                     help="the producer stops after N tasks")
    cmd.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                     help="an environment variable for every container (repeatable)")
    cmd.add_argument("--output", "-o", type=Path, default=None, metavar="FILE",
                     help="write here instead of stdout")
    args = parser.parse_args(argv)
    env = []
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--env {item!r}: expected KEY=VALUE")
        env.append((key, value))
    options = PodOptions(
        image=args.image, consumers=args.consumers, time_scale=args.time_scale,
        namespace=args.namespace, restart_policy=args.restart_policy,
        monitor_json=args.monitor_json, max_tasks=args.max_tasks, env=tuple(env),
    )
    text = render(options)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
