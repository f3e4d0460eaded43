"""``harness backends``: every queue the harness can stress, with what each can do."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..backends.redis_server import add_redis_option, redis_for
from ..backends.registry import available, resolve
from ..errors import RedisServerError, UnknownBackend, UsageError
from ..reporting.console import EXIT_VALID, console


def add_parser(commands: Any) -> None:
    """Register ``backends``."""
    backends = commands.add_parser(
        "backends", help="list the queues the harness can stress",
        description="List every backend: the built-in ones and those installed packages offer "
        "(entry point group filequeue_harness.backends), with what each can do and where it "
        "comes from. A module's factory is named MODULE:FACTORY and is not listed.",
    )
    backends.add_argument("names", nargs="*", metavar="NAME",
                          help="also list these (e.g. MODULE:FACTORY names)")
    backends.add_argument("--json", action="store_true", help="print the list as JSON")
    add_redis_option(backends)
    backends.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """The ``backends`` command; its exit code."""
    try:
        specs = [*available(), *(resolve(name) for name in args.names)]
    except UnknownBackend as error:
        raise UsageError(str(error)) from error
    try:
        with redis_for(args.redis_server):
            return _list_backends(specs, args.json)
    except RedisServerError as error:
        raise UsageError(f"--redis-server: {error}") from error


def _list_backends(specs: list[Any], as_json: bool) -> int:
    rows = []
    for spec in specs:
        reason = spec.missing()
        try:
            can = [reason] if reason else spec.probe()
        except Exception as error:
            can = [f"cannot open: {type(error).__name__}: {error}"[:120]]
        rows.append({"name": spec.name, "capabilities": can, "origin": spec.origin,
                     "about": spec.about})
    if as_json:
        console.say(json.dumps(rows, indent=2))
        return EXIT_VALID
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        about = f"; {row['about']}" if row["about"] else ""
        console.say(f"{row['name']:{width}}  {', '.join(row['capabilities'])}  "
                    f"({row['origin']}{about})")
    return EXIT_VALID
