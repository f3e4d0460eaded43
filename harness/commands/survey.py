"""``harness survey``: the same loads on every backend, as one table."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from queue_core.roles.settings import positive_float, positive_int

from ..backends.redis_server import add_redis_option, missing_reason, redis_for
from ..backends.registry import BUILT_IN, resolve
from ..errors import RedisServerError, UnknownBackend, UsageError
from ..reporting.console import EXIT_VALID, console
from ..reporting.console import usable_directory as usable
from ..survey import DEFAULT_BACKENDS, survey, write


def add_parser(commands: Any) -> None:
    """Register ``survey``."""
    parser = commands.add_parser(
        "survey", help="run the same loads on every available backend and write a table",
        description="Run 4+4 and 16+16 processes, with and without SIGKILLs, at most once and "
        "(where the backend can) at least once, on every backend; write DIR/survey.md and "
        "DIR/survey.json. A backend whose library is missing is skipped with the reason.",
    )
    parser.add_argument("--backends", default=",".join(DEFAULT_BACKENDS), metavar="A,B,...",
                        help="the backends to survey (default: filequeue and every peer)")
    parser.add_argument("--items", type=positive_int, default=2_000, metavar="N",
                        help="items per run (default %(default)s)")
    parser.add_argument("--kill-every", type=positive_float, default=100.0, metavar="MS",
                        help="SIGKILL a worker about every MS ms in the kill loads "
                        "(default %(default)g)")
    parser.add_argument("--timeout", type=positive_float, default=120.0, metavar="S",
                        help="give up on one run after S seconds (default %(default)g)")
    parser.add_argument("--seed", type=int, default=0, metavar="K")
    parser.add_argument("--out", type=Path, default=Path("survey"), metavar="DIR",
                        help="where survey.md and survey.json go (default ./survey)")
    add_redis_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """The ``survey`` command; its exit code."""
    names = [name.strip() for name in args.backends.split(",") if name.strip()]
    try:
        for name in names:
            resolve(name)
    except UnknownBackend as error:
        raise UsageError(f"--backends: {error}") from error
    out = usable(args.out, "--out")
    redis = args.redis_server
    if redis is None and any(BUILT_IN.get(n) and BUILT_IN[n].peer and BUILT_IN[n].peer.needs_redis
                             for n in names):
        redis = "auto" if missing_reason() is None else None
    workdir = Path(tempfile.mkdtemp(prefix="harness-survey-"))
    try:
        with redis_for(redis):
            data = survey(names, args.items, args.kill_every, workdir, args.timeout, args.seed,
                          say=console.say)
    except RedisServerError as error:
        raise UsageError(f"--redis-server: {error}") from error
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    json_path, md_path = write(data, out)
    console.say(f"survey: {md_path} and {json_path}")
    return EXIT_VALID
