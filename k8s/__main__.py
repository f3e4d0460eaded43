"""``python -m k8s render``: write the manifest (to stdout, or to ``--output``).

Exit codes: 0 written; 2 a flag Kubernetes would refuse, or an output path that cannot be
written, reported in one line naming the flag or the path and the reason. Nothing is written
then.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from queue_core.roles.settings import positive_float, positive_int

from .render import PodOptions, env_name_problem, image_problem, label_problem, render


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``prog: error: ...``), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, render, write; exit code 0, or 2 for bad arguments or output path."""
    parser = _OneLineParser(prog="python -m k8s", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_OneLineParser)
    cmd = commands.add_parser("render", help="write the ConfigMap and the Pod as YAML")
    cmd.add_argument("--image", type=_checked(image_problem), default=PodOptions.image,
                     help=f"container image (default {PodOptions.image})")
    cmd.add_argument("--consumers", type=positive_int, default=2, metavar="N",
                     help="consumer containers (default 2)")
    cmd.add_argument("--time-scale", type=positive_float, default=1.0, metavar="F",
                     help="factor on every sleep of the roles (default 1.0)")
    cmd.add_argument("--namespace", type=_checked(label_problem), default=None,
                     help="metadata.namespace, an RFC 1123 label (default none)")
    cmd.add_argument("--restart-policy", choices=("Always", "OnFailure", "Never"),
                     default="Always", help="the Pod's restartPolicy (default Always)")
    cmd.add_argument("--monitor-json", action="store_true",
                     help="the monitor prints each report as one JSON line")
    cmd.add_argument("--max-tasks", type=positive_int, default=None, metavar="N",
                     help="the producer stops after N tasks")
    cmd.add_argument("--env", type=_env_pair, action="append", default=[], metavar="KEY=VALUE",
                     help="an environment variable for every container (repeatable)")
    cmd.add_argument("--output", "-o", type=Path, default=None, metavar="FILE",
                     help="write here instead of stdout")
    args = parser.parse_args(argv)
    options = PodOptions(
        image=args.image, consumers=args.consumers, time_scale=args.time_scale,
        namespace=args.namespace, restart_policy=args.restart_policy,
        monitor_json=args.monitor_json, max_tasks=args.max_tasks, env=tuple(args.env),
    )
    text = render(options)
    if args.output is None:
        return _write_stdout(text)
    problem = _output_problem(args.output)
    if problem is None:
        try:
            args.output.write_text(text)
        except OSError as error:
            problem = error.strerror or str(error)
    if problem is not None:
        print(f"python -m k8s render: error: -o {args.output}: {problem}", file=sys.stderr)
        return 2
    return 0


def _checked(problem_of: Callable[[str], str | None]) -> Callable[[str], str]:
    """An argparse type that refuses a value for the reason ``problem_of`` gives."""

    def check(value: str) -> str:
        problem = problem_of(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{value!r}: {problem}")
        return value

    return check


def _env_pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{item!r}: expected KEY=VALUE")
    problem = env_name_problem(key)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{item!r}: {problem}")
    return key, value


def _output_problem(path: Path) -> str | None:
    """Why ``path`` cannot take the manifest, or None; checked before anything is written."""
    if path.is_dir():
        return "is a directory"
    folder = path.parent
    if not folder.exists():
        return f"the folder {folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    return None


def _write_stdout(text: str) -> int:
    """Write ``text`` to stdout; a reader that closed the pipe early (``| head``) is no error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would report the same broken pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
