"""Settings that are a dataclass's fields and command-line flags at once.

A setting is defined once, as a field made by ``setting(default, Flag(...))``: its default,
its flag, its help, its unit and when it applies. Everything else is derived from that
definition, at the time it is asked for (so a default changed in one place shows everywhere):

- ``add_flags``: the flags of a parser;
- ``from_args``: the settings a parsed command line gives (a flag given where it does not
  apply is a ``UsageError`` naming it);
- ``to_argv``: the flags that give a settings object back (a rerun command, a container's
  command line).

Standard library only: the worker in a container parses its settings with it.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from .errors import UsageError

_FLAG = "flag"


@dataclasses.dataclass(frozen=True)
class Flag:
    """How a setting appears on the command line."""

    name: str
    help: str
    metavar: str | None = None
    #: Turns the flag's text into its value; None for a switch (``store_true``).
    parse: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    #: The setting holds the flag's value times this (0.001 for a flag in milliseconds that
    #: sets seconds).
    scale: float = 1.0
    #: Whether the setting applies to a given settings object (None: always), and the words
    #: that end "FLAG applies only ..." when it was given where it does not.
    applies: Callable[[Any], bool] | None = None
    applies_when: str = ""
    #: Sent to the workers when they run in containers.
    to_workers: bool = False
    #: The flag's text of a value that is not a number (a tuple of names, say).
    show: Callable[[Any], str] | None = None

    def text(self, value: Any) -> str:
        """``value`` (the setting's) as the flag's argument."""
        if self.show is not None:
            return self.show(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return str(value)
        return f"{value / self.scale:.12g}"


def setting(default: Any, flag: Flag) -> Any:
    """A dataclass field with ``default`` that ``flag`` sets from the command line."""
    return dataclasses.field(default=default, metadata={_FLAG: flag})


def flags_of(kind: type, only: Callable[[Flag], bool] | None = None
             ) -> Iterator[tuple[dataclasses.Field, Flag]]:
    """Every field of the dataclass ``kind`` that has a flag (those ``only`` accepts)."""
    for field in dataclasses.fields(kind):
        flag = field.metadata.get(_FLAG)
        if flag is not None and (only is None or only(flag)):
            yield field, flag


def add_flags(parser: Any, kind: type, only: Callable[[Flag], bool] | None = None) -> None:
    """Add the flags of ``kind``'s settings to ``parser`` (a parser or an argument group); each
    help says its default, and a flag not given parses as ``None``."""
    for field, flag in flags_of(kind, only):
        if flag.parse is None:
            parser.add_argument(flag.name, dest=field.name, action="store_true", default=None,
                                help=flag.help)
            continue
        default = field.default
        says = default in (None, ()) or "default" in flag.help
        shown = "" if says else f" (default {flag.text(default)})"
        parser.add_argument(flag.name, dest=field.name, type=flag.parse, choices=flag.choices,
                            default=None, metavar=flag.metavar, help=flag.help + shown)


def from_args(kind: type, args: argparse.Namespace, **fixed: Any) -> Any:
    """The ``kind`` that the parsed ``args`` ask for, ``fixed`` values overriding them; a
    flag given where it does not apply is a ``UsageError`` naming it."""
    values: dict[str, Any] = {}
    given: list[Flag] = []
    for field, flag in flags_of(kind):
        raw = getattr(args, field.name, None)
        if raw is None:
            values[field.name] = field.default
            continue
        given.append(flag)
        values[field.name] = raw * flag.scale if flag.scale != 1 else raw
    values.update(fixed)
    try:
        made = kind(**values)
    except ValueError as error:
        raise UsageError(str(error)) from error
    for flag in given:
        if flag.applies is not None and not flag.applies(made):
            raise UsageError(f"{flag.name} applies only {flag.applies_when}")
    return made


def to_argv(settings: Any, only: Callable[[Flag], bool] | None = None) -> list[str]:
    """The flags that give ``settings`` back: every setting that applies and is set (a switch
    when on), with its value, defaults included (a rerun made by a later version, whose
    defaults differ, still runs the same)."""
    argv: list[str] = []
    for field, flag in flags_of(type(settings), only):
        value = getattr(settings, field.name)
        if value is None or value == () or (flag.applies and not flag.applies(settings)):
            continue
        if flag.parse is None:
            argv += [flag.name] if value else []
        else:
            argv += [flag.name, flag.text(value)]
    return argv
