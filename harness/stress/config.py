"""The one stress configuration: every setting of a run with its default and its flag, defined
once. The ``stress`` parser, the flags a container's worker gets, the command that reruns a
run and the report all come from ``StressConfig`` (``harness.flags``).

Standard library and ``queue_core`` only: the worker in a container parses its settings here.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from queue_core.roles.settings import integer, non_negative_float, positive_float, positive_int

from ..flags import Flag, setting
from ..history.format import AT_LEAST_ONCE, AT_MOST_ONCE, DELIVERY_MODES


def _non_negative_int(text: str) -> int:
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer of 0 or more")
    return value


def _fault_kinds(text: str) -> tuple[str, ...]:
    from ..disk.faults import parse_faults  # the storage checks stay out of containers

    try:
        return parse_faults(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _tamper_kinds(text: str) -> tuple[str, ...]:
    from .tamper import parse_tampers

    try:
        return parse_tampers(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _tampered(config: StressConfig) -> bool:
    return bool(config.tamper)


def _claims(config: StressConfig) -> bool:
    return config.delivery == AT_LEAST_ONCE


def _faulty(config: StressConfig) -> bool:
    return bool(config.faults)


@dataclass(frozen=True)
class StressConfig:
    """What to run: how many processes of each role, how many items, which queue, which faults.

    Each field is a setting with its flag; the command line's defaults are these.
    """

    producers: int = setting(4, Flag(
        "--producers", "producer processes", "P", positive_int))
    consumers: int = setting(4, Flag(
        "--consumers", "consumer processes", "C", positive_int))
    readers: int = setting(1, Flag(
        "--readers", "processes calling size() in a loop, as the monitor does", "R",
        _non_negative_int))
    items: int = setting(10_000, Flag(
        "--items", "items to put, split among the producers", "N", positive_int))
    #: Puts per second of each producer at most (None: as fast as the queue takes them), so
    #: that a run lasts long enough for its kills.
    rate: float | None = setting(None, Flag(
        "--rate", "each producer puts at most R items a second (default: as fast as it can), "
        "so that a run lasts long enough for --kill-every", "R", positive_float, to_workers=True))
    #: Seconds consumers wait in ``get``/``claim`` on an empty queue, for queues whose calls
    #: take a ``timeout`` (None: they poll).
    block: float | None = setting(None, Flag(
        "--block", "consumers wait up to MS milliseconds in get()/claim() for an item (queues "
        "whose calls take a timeout; default: they poll)", "MS", positive_float, scale=0.001,
        to_workers=True))
    #: Seconds a consumer works on each item it took before it acks or nacks it.
    work: float = setting(0.0, Flag(
        "--work", "consumers work MS milliseconds on each item before they ack it, so that "
        "kills land while a claim is held", "MS", non_negative_float, scale=0.001,
        to_workers=True))
    #: Seconds after which producers stop putting (None: when their quotas are out).
    duration: float | None = setting(None, Flag(
        "--duration", "stop putting after S seconds even if N items are not out yet", "S",
        positive_float))
    backend: str = setting("filequeue", Flag(
        "--backend", "the queue to stress: a built-in name, MODULE:FACTORY, or an installed "
        "package's entry point; `harness backends` lists them", "NAME", str, to_workers=True))
    fsync: bool = setting(False, Flag(
        "--fsync", "open the queue with fsync=True", to_workers=True))
    delivery: str = setting(AT_MOST_ONCE, Flag(
        "--delivery", "how consumers take items: get() (at-most-once) or claim() then ack(), "
        "with a few nack() (at-least-once)", None, str, choices=tuple(sorted(DELIVERY_MODES)),
        to_workers=True))
    #: at-least-once: the claims' lease in seconds, and the share of claims given back.
    lease: float = setting(0.5, Flag(
        "--lease", "at-least-once: the claims' lease in seconds", "S", positive_float,
        applies=_claims, applies_when="to --delivery at-least-once (at-most-once consumers "
        "take items with get(), which has no lease)", to_workers=True))
    nack_fraction: float = setting(0.02, Flag(
        "--nack-fraction", "at-least-once: the share of claims consumers give back with nack()",
        "F", non_negative_float, applies=_claims,
        applies_when="to --delivery at-least-once", to_workers=True))
    kill_every_ms: float | None = setting(None, Flag(
        "--kill-every", "SIGKILL a random worker about every MS milliseconds and start a "
        "replacement", "MS", positive_float))
    #: Storage faults injected into the workers' queue calls (``harness.disk.faults`` names),
    #: and the share of file calls that fail.
    faults: tuple[str, ...] = setting((), Flag(
        "--faults", "a faulty disk: the workers' queue file calls fail at random with these "
        "errors (comma-separated: enospc, eio, short-write); an operation that raised must "
        "have changed nothing", "KINDS", _fault_kinds, show=",".join))
    fault_rate: float = setting(0.01, Flag(
        "--fault-rate", "with --faults: the share of file calls that fail", "P", positive_float,
        applies=_faulty, applies_when="with --faults"))
    #: Damage done to the live queue's files (``harness.stress.tamper`` names), about every
    #: ``tamper_every`` seconds; the workers then read what raised as what may have happened.
    tamper: tuple[str, ...] = setting((), Flag(
        "--tamper", "damage the live queue's files as a crash or a backup would (comma-"
        "separated: sync, claims, lines, head, snapshot); operations that raised count as "
        "may-have-happened", "KINDS", _tamper_kinds, show=",".join))
    tamper_every: float = setting(0.005, Flag(
        "--tamper-every", "with --tamper: milliseconds between two damages", "MS",
        positive_float, scale=0.001, applies=_tampered, applies_when="with --tamper"))
    #: Create the queue before the workers start; otherwise they all create it at once.
    precreate: bool = setting(False, Flag(
        "--precreate", "create the queue before the workers start (by default they all create "
        "it at once, which tests creation races)"))
    seed: int = setting(0, Flag(
        "--seed", "seed for every random choice (default: from the clock, printed)", "K",
        integer, to_workers=True))
    #: Seconds after which an unfinished run is abandoned.
    timeout: float = setting(600.0, Flag(
        "--timeout", "give up on a run that has not finished after S seconds", "S",
        positive_float))

    def __post_init__(self) -> None:
        if self.delivery not in DELIVERY_MODES:
            raise ValueError(f"delivery must be {' or '.join(DELIVERY_MODES)}, "
                             f"not {self.delivery!r}")
        if self.faults:
            from ..disk.faults import FAULTS

            unknown = [kind for kind in self.faults if kind not in FAULTS]
            if unknown:
                raise ValueError(f"unknown fault {', '.join(unknown)}; choose from "
                                 f"{', '.join(FAULTS)}")
        if self.rate is not None and not self.rate > 0:
            raise ValueError(f"the rate must be above 0 puts a second, not {self.rate!r}")
        if not 0 < self.fault_rate <= 1:
            raise ValueError(f"--fault-rate {self.fault_rate:g}: a share of calls, above 0 "
                             "and at most 1")
        if not 0 <= self.nack_fraction <= 1:
            raise ValueError(f"--nack-fraction {self.nack_fraction:g}: a share of claims, "
                             "from 0 to 1")


def for_workers(flag: Flag) -> bool:
    """True for the settings a container's worker gets on its command line."""
    return flag.to_workers
