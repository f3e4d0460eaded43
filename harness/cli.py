"""``python -m harness``: the parser made from every command's own ``add_parser``, and dispatch.

Exit codes: 0 = valid, 1 = a violation was found, 2 = bad arguments or the run could not be
done (one line says which flag or path and why), 130 / 143 = interrupted by SIGINT / SIGTERM
(unless a violation was found before: then 1).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .commands import backends, campaign, check, crashpoints, pod, selftest, stress, survey
from .errors import UsageError
from .reporting.console import EXIT_FAILED

#: Every subcommand, in the order ``--help`` lists them.
COMMANDS = (stress, check, selftest, pod, backends, crashpoints, campaign, survey)


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: no abbreviated flags (a typo must not silently mean another
    flag), and an unknown flag is reported with this command's usage, not the top level's."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(**kwargs)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_FAILED, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="harness", description="Stress and verify file-based multi-process task queues.",
        allow_abbrev=False,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=CommandParser)
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; its exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as error:
        return _fail(str(error))
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        return _fail(f"cannot use{where}: {error.strerror or error}")
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130


def _fail(reason: str) -> int:
    print(f"harness: error: {reason}", file=sys.stderr)
    return EXIT_FAILED
