"""Command-line flags that fall back to environment variables, shared by the roles.

A value comes from the flag if given, else from the environment variable, else from the
default. A bad environment value is reported like a bad flag: usage error, exit code 2.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..contracts import DEFAULT_MAX_ATTEMPTS
from ..queue import FileQueue
from ..storage import DEFAULT_FORMAT, FORMATS


def positive_float(text: str) -> float:
    """A finite float greater than zero."""
    value = _number(text, float)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number greater than 0")
    return value


def non_negative_float(text: str) -> float:
    """A finite float of zero or more."""
    value = _number(text, float)
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number of 0 or more")
    return value


def positive_int(text: str) -> int:
    """An integer of one or more."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer of 1 or more")
    return value


def integer(text: str) -> int:
    """Any integer."""
    return _number(text, int)


def boolean(text: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off``, any case."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean (use 1/0, true/false, yes/no)")


def seconds_range(text: str) -> tuple[float, float]:
    """``LOW:HIGH`` seconds, 0 <= LOW <= HIGH."""
    low_text, sep, high_text = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not a range LOW:HIGH in seconds")
    low, high = non_negative_float(low_text), non_negative_float(high_text)
    if low > high:
        raise argparse.ArgumentTypeError(f"range {text!r} has LOW greater than HIGH")
    return low, high


def work_time_table(text: str) -> dict[str, tuple[float, float]]:
    """``TYPE=LOW:HIGH[,TYPE=LOW:HIGH...]``: simulated work seconds per task type."""
    table = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        task_type, sep, span = part.partition("=")
        if not sep or not task_type:
            raise argparse.ArgumentTypeError(f"{part!r} is not TYPE=LOW:HIGH")
        table[task_type.strip()] = seconds_range(span)
    return table


def queue_format(text: str) -> str:
    """The name of a storage format."""
    if text not in FORMATS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a queue format; choose one of {', '.join(sorted(FORMATS))}"
        )
    return text


def _number(text: str, kind: Callable[[str], Any]) -> Any:
    try:
        return kind(text)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None


@dataclass(frozen=True)
class Setting:
    """One option: its flag, its environment variable, its default and how to parse it."""

    flag: str
    env: str
    default: Any
    parse: Callable[[str], Any]
    help: str
    metavar: str | None = None

    @property
    def is_switch(self) -> bool:
        return self.parse is boolean


QUEUE_SETTINGS = (
    Setting("--queue-file", "QUEUE_FILE", Path("/shared-queue/tasks.json"), Path,
            "the queue's data file; its lock file sits beside it", "PATH"),
    Setting("--queue-format", "QUEUE_FORMAT", DEFAULT_FORMAT, queue_format,
            "the queue's storage format", "NAME"),
    Setting("--fsync", "QUEUE_FSYNC", False, boolean,
            "flush every queue change to disk before going on"),
    Setting("--max-attempts", "QUEUE_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS, positive_int,
            "deliveries of a claimed item without an ack before it goes to the dead letters",
            "N"),
)
RESULTS_SETTING = Setting("--results-dir", "RESULTS_DIR", Path("/shared-results"), Path,
                          "the directory of result files", "DIR")
TIMING_SETTINGS = (
    Setting("--time-scale", "TIME_SCALE", 1.0, positive_float,
            "multiply every sleep by this factor (0.01 runs 100 times faster)", "F"),
    Setting("--duration", "DURATION", None, positive_float,
            "stop after this many seconds of real time (default: run until stopped)", "S"),
)


def build_parser(
    prog: str,
    description: str,
    settings: Sequence[Setting],
    environ: Mapping[str, str] | None = None,
) -> argparse.ArgumentParser:
    """A parser for ``settings`` whose defaults are taken from ``environ`` where set there."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog=prog, description=description)
    for setting in settings:
        default = setting.default
        raw = environ.get(setting.env)
        if raw is not None:
            try:
                default = setting.parse(raw)
            except argparse.ArgumentTypeError as error:
                parser.error(f"environment variable {setting.env}: {error}")
        shown = f"env {setting.env}" + _shown_default(setting.default)
        if setting.is_switch:
            parser.add_argument(setting.flag, action=argparse.BooleanOptionalAction,
                                default=default, help=f"{setting.help} ({shown})")
        else:
            parser.add_argument(setting.flag, type=setting.parse, default=default,
                                metavar=setting.metavar, help=f"{setting.help} ({shown})")
    return parser


def _shown_default(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "; default " + ("on" if value else "off")
    if isinstance(value, tuple):
        return "; default " + ":".join(f"{v:g}" for v in value)
    if isinstance(value, dict):
        return "; default " + ",".join(f"{k}={lo:g}:{hi:g}" for k, (lo, hi) in value.items())
    return f"; default {value}"


def worker_name(environ: Mapping[str, str] | None = None) -> str:
    """This worker's name: ``WORKER_ID`` if set, else the host name."""
    environ = os.environ if environ is None else environ
    return environ.get("WORKER_ID") or socket.gethostname()


def open_queue(args: argparse.Namespace) -> FileQueue:
    """The queue that ``QUEUE_SETTINGS`` name."""
    return FileQueue(args.queue_file, fsync=args.fsync, format=args.queue_format,
                     max_attempts=args.max_attempts)


def environment_name(settings: Sequence[Setting], flag: str) -> str:
    """The environment variable of the setting whose flag is ``flag``; ``KeyError`` if none."""
    for setting in settings:
        if setting.flag == flag:
            return setting.env
    raise KeyError(f"no setting with the flag {flag}")
