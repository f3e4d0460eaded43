"""``python -m harness``: stress, check, selftest, pod and crashpoints.

Exit codes: 0 = valid, 1 = a violation was found, 2 = bad arguments or the run could not be
done (one line says which flag or path and why), 130 / 143 = interrupted by SIGINT / SIGTERM
(unless a violation was found before: then 1).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from queue_core.roles.settings import non_negative_float, positive_float, positive_int

from .backends.redis_server import add_redis_option
from .backends.registry import BUILT_IN, available, resolve
from .commands.crashpoints import add_parser as add_crashpoints
from .containers.options import add_options as add_container_options
from .containers.options import container_defaults, placement_from
from .disk.faults import parse_faults
from .errors import BackendUnavailable, RedisServerError, UnknownBackend
from .history.format import AT_MOST_ONCE, DELIVERY_MODES
from .interrupt import StopRequest
from .reporting.console import (
    EXIT_FAILED,
    EXIT_VALID,
    EXIT_VIOLATION,
    ProgressLine,
    UsageError,
    console,
    new_run_directory,
    replace_file,
)
from .reporting.console import usable_directory as usable
from .stress.run import StressConfig, StressRun
from .survey import add_parser as add_survey

DEFAULTS = StressConfig()



Subcommands = Any  # what ``ArgumentParser.add_subparsers`` returns


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="harness", description="Stress and verify file-based multi-process task queues."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_stress, _add_check, _add_selftest, _add_pod, _add_backends,
                add_crashpoints, add_survey):
        add(commands)
    return parser


def _add_stress(commands: Subcommands) -> None:
    stress = commands.add_parser(
        "stress", help="run many processes on one queue, record a history and check it",
        description="Spawn producers, consumers and size() readers as OS processes on one new "
        "queue, record every operation, drain the queue, check the history, and write "
        "DIR/history.jsonl, DIR/report.json and DIR/timeline.html.",
    )
    stress.add_argument("--producers", type=positive_int, default=DEFAULTS.producers,
                        metavar="P", help="producer processes (default %(default)s)")
    stress.add_argument("--consumers", type=positive_int, default=DEFAULTS.consumers,
                        metavar="C", help="consumer processes (default %(default)s)")
    stress.add_argument("--readers", type=int, default=DEFAULTS.readers, metavar="R",
                        help="processes calling size() in a loop, as the monitor does "
                        "(default %(default)s)")
    stress.add_argument("--items", type=positive_int, default=DEFAULTS.items, metavar="N",
                        help="items to put, split among the producers (default %(default)s)")
    stress.add_argument("--rate", type=positive_float, default=None, metavar="R",
                        help="each producer puts at most R items a second (default: as fast "
                        "as it can), so that a run lasts long enough for --kill-every")
    stress.add_argument("--block", type=positive_float, default=None, metavar="MS",
                        help="consumers wait up to MS milliseconds in get()/claim() for an item "
                        "(queues whose calls take a timeout; default: they poll)")
    stress.add_argument("--work", type=non_negative_float, default=0.0, metavar="MS",
                        help="consumers work MS milliseconds on each item before they ack it "
                        "(default 0), so that kills land while a claim is held")
    stress.add_argument("--duration", type=positive_float, default=None, metavar="S",
                        help="stop putting after S seconds even if N items are not out yet")
    stress.add_argument("--backend", default=DEFAULTS.backend, metavar="NAME",
                        help="the queue to stress: a built-in name (" + ", ".join(BUILT_IN)
                        + "), MODULE:FACTORY, or an installed package's entry point; "
                        "`harness backends` lists them")
    stress.add_argument("--fsync", action="store_true", help="open the queue with fsync=True")
    stress.add_argument("--delivery", choices=sorted(DELIVERY_MODES), default=DEFAULTS.delivery,
                        help="how consumers take items: get() (at-most-once, the default) or "
                        "claim() then ack(), with a few nack() (at-least-once)")
    stress.add_argument("--lease", type=positive_float, default=None, metavar="S",
                        help=f"at-least-once: the claims' lease in seconds (default "
                        f"{DEFAULTS.lease:g})")
    stress.add_argument("--kill-every", type=positive_float, default=None, metavar="MS",
                        help="SIGKILL a random worker about every MS milliseconds and start a "
                        "replacement")
    stress.add_argument("--faults", default="", metavar="KINDS",
                        help="a faulty disk: the workers' queue file calls fail at random with "
                        "these errors (comma-separated: enospc, eio, short-write); an operation "
                        "that raised must have changed nothing")
    stress.add_argument("--fault-rate", type=positive_float, default=None, metavar="P",
                        help=f"with --faults: the share of file calls that fail (default "
                        f"{DEFAULTS.fault_rate:g})")
    stress.add_argument("--precreate", action="store_true",
                        help="create the queue before the workers start (by default they all "
                        "create it at once, which tests creation races)")
    stress.add_argument("--seed", type=int, default=None, metavar="K",
                        help="seed for every random choice (default: from the clock, printed)")
    stress.add_argument("--timeout", type=positive_float, default=DEFAULTS.timeout, metavar="S",
                        help="give up on a run that has not finished after S seconds "
                        "(default %(default)g)")
    stress.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="where to write the results (default harness-runs/<time>)")
    stress.add_argument("--json", action="store_true", help="print the report as JSON")
    stress.add_argument("--quiet", action="store_true", help="no progress lines")
    add_redis_option(stress)
    add_container_options(stress)
    stress.set_defaults(run=_run_stress)


def _add_check(commands: Subcommands) -> None:
    check = commands.add_parser(
        "check", help="check a saved history and print the same report",
        description="Check a history file (JSON lines, the format stress writes) for lost, "
        "duplicated and unexpected items and for FIFO violations, or, for a claim/ack "
        "history, for lost, twice-acked and wrongly redelivered items.",
    )
    check.add_argument("history", type=Path, metavar="HISTORY.jsonl")
    check.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="also write DIR/report.json and DIR/timeline.html")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--op-names", default="", metavar="OURS=THEIRS,...",
                       help="read another tool's operation names as ours, e.g. "
                       "put=enqueue,get=dequeue (ours: put, get, size, open, killed, drained, "
                       "claim, ack, nack, extend, dead)")
    check.set_defaults(run=_run_check)


def _add_selftest(commands: Subcommands) -> None:
    selftest = commands.add_parser(
        "selftest", help="prove the harness catches every known-bad queue and passes the real one",
        description="Stress each deliberately broken queue (harness/backends/mutants.py) with "
        "the load that exposes its defect until a violation is found (at most 30 s each), and "
        "the real FileQueue with the same loads; then each storage mutant "
        "(harness/disk/mutants.py) against crash points, power loss or faults, and the real "
        "queue against the same checks (every second file-changing call; crashpoints --selftest "
        "explores every one). Fails unless every mutant is caught and the real queue passes "
        "every run.",
    )
    selftest.add_argument("--seed", type=int, default=0, metavar="K", help="base seed (default 0)")
    selftest.add_argument("--out", type=Path, default=None, metavar="DIR",
                          help="keep the runs' queues here (default: a temporary directory, "
                          "removed at the end unless --keep)")
    selftest.add_argument("--keep", action="store_true",
                          help="keep the temporary directory of the runs")
    selftest.set_defaults(run=_run_selftest)


def _add_pod(commands: Subcommands) -> None:
    pod = commands.add_parser(
        "pod", help="run the Pod's roles as local processes and check their results",
        description="Run the producer, the consumers and the monitor as local processes on "
        "a shared directory, as the Pod runs them; after the run, let the consumers finish "
        "the backlog, stop every role with SIGTERM and check that each produced task has "
        "exactly one result. Exit code 0 = valid, 1 = a problem was found, 2 = bad arguments.",
    )
    pod.add_argument("--duration", type=positive_float, default=10.0, metavar="S",
                     help="seconds the producer runs (default 10)")
    pod.add_argument("--time-scale", type=positive_float, default=0.02, metavar="F",
                     help="factor on every sleep of the roles (default 0.02: 50 times faster)")
    pod.add_argument("--consumers", type=positive_int, default=2, metavar="N",
                     help="number of consumer processes (default 2)")
    pod.add_argument("--drain-timeout", type=non_negative_float, default=60.0, metavar="S",
                     help="seconds the consumers get to finish the backlog (default 60)")
    pod.add_argument("--workdir", type=Path, default=None, metavar="DIR",
                     help="where the shared directories go (default: a new temporary directory, "
                     "removed at the end unless --keep)")
    pod.add_argument("--keep", action="store_true",
                     help="keep the temporary directory of the roles")
    pod.set_defaults(run=_run_pod)


def _add_backends(commands: Subcommands) -> None:
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
    backends.set_defaults(run=_run_backends)


def _run_backends(args: argparse.Namespace) -> int:
    from .backends.redis_server import redis_for

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


def _exit_code(valid: bool | None) -> int:
    return {True: EXIT_VALID, False: EXIT_VIOLATION, None: EXIT_FAILED}[valid]


def _stress_config(args: argparse.Namespace) -> StressConfig:
    """The run the flags ask for; ``UsageError`` for flags that cannot work together."""
    if args.readers < 0:
        raise UsageError("--readers must be 0 or more")
    try:
        resolve(args.backend).refuse_unless(args.delivery, args.fsync)
    except UnknownBackend as error:
        raise UsageError(f"--backend: {error}") from error
    except BackendUnavailable as error:
        raise UsageError(f"--backend: {error}") from error
    except ValueError as error:
        raise UsageError(f"--backend {args.backend}: {error}") from error
    except Exception as error:  # the backend's own code failed to open a queue
        raise UsageError(f"--backend {args.backend} cannot open a queue: "
                         f"{type(error).__name__}: {error}") from error
    if args.lease is not None and args.delivery == AT_MOST_ONCE:
        raise UsageError("--lease applies only to --delivery at-least-once (at-most-once "
                         "consumers take items with get(), which has no lease)")
    try:
        faults = parse_faults(args.faults) if args.faults else ()
    except ValueError as error:
        raise UsageError(f"--faults: {error}") from error
    if args.fault_rate is not None and not faults:
        raise UsageError("--fault-rate applies only with --faults")
    if args.fault_rate is not None and args.fault_rate > 1:
        raise UsageError(f"--fault-rate {args.fault_rate:g}: a share of calls, at most 1")
    seed = args.seed if args.seed is not None else time.time_ns() % 1_000_000
    return StressConfig(
        producers=args.producers, consumers=args.consumers, readers=args.readers,
        items=args.items, duration=args.duration, rate=args.rate, backend=args.backend,
        block=None if args.block is None else args.block / 1000, work=args.work / 1000,
        fsync=args.fsync,
        kill_every_ms=args.kill_every, seed=seed, timeout=args.timeout, precreate=args.precreate,
        delivery=args.delivery, lease=DEFAULTS.lease if args.lease is None else args.lease,
        faults=faults, fault_rate=DEFAULTS.fault_rate if args.fault_rate is None
        else args.fault_rate,
    )


def _run_stress(args: argparse.Namespace) -> int:
    from .backends.redis_server import redis_for

    try:
        with redis_for(args.redis_server):
            return _stress(args)
    except RedisServerError as error:
        raise UsageError(f"--redis-server: {error}") from error


def _stress(args: argparse.Namespace) -> int:
    from .containers.options import run_placed
    from .stress.run import run_stress

    placement = placement_from(args)
    config = _stress_config(args)
    if placement is not None:
        config = container_defaults(config)
    out = usable(args.out, "--out") if args.out is not None else new_run_directory()
    history_file = out / "history.jsonl"
    history_file.write_text("")  # records are appended here as they arrive
    if not args.json:
        console.say(f"stress: seed {config.seed}, results in {out}")
    stop = StopRequest().install()
    progress = ProgressLine(config.items, quiet=args.quiet)
    try:
        workdir = usable(out / "work", "--out")
        if placement is None:
            run = run_stress(config, workdir, progress=progress, stop=stop,
                             keep_history_in=history_file)
        else:
            run = run_placed(config, placement, workdir, progress, stop, history_file)
        progress.close()
        valid = _write_run(run, out, args.json)
    finally:
        stop.restore()
    if run.stopped_by is not None:
        return EXIT_VIOLATION if valid is False else stop.exit_code
    if run.failure is not None:
        return EXIT_VIOLATION if valid is False else EXIT_FAILED
    return _exit_code(valid)


def _write_run(run: StressRun, out: Path, as_json: bool) -> bool | None:
    """Save the run's evidence and print its report; the verdict."""
    from .reporting import report as reporting
    from .reporting.evidence import save_run

    result, data = save_run(run, out)
    _print(data, as_json, reporting.render_text)
    if run.partial and not as_json:
        console.say(f"partial: {run.failure}; the verdict is on the history recorded until then")
    return result.valid


def _run_check(args: argparse.Namespace) -> int:
    from .checkers import check
    from .history.files import (
        HistoryError,
        first_unknown_operation,
        line_of,
        parse_op_names,
        read_history,
        rename_operations,
    )
    from .reporting import report as reporting
    from .reporting import timeline

    try:
        names = parse_op_names(args.op_names)
        history = read_history(args.history)
    except HistoryError as error:
        raise UsageError(str(error)) from error
    if not history:
        raise UsageError(f"{args.history} holds no operations")
    rename_operations(history, names)
    unknown = first_unknown_operation(history)
    if unknown is not None:
        raise UsageError(
            f"{args.history}:{line_of(args.history, unknown)}: unknown operation "
            f"{history[unknown]['op']!r}; map another tool's names to ours with --op-names "
            "(e.g. --op-names put=enqueue,get=dequeue)")
    out = None if args.out is None else usable(args.out, "--out")
    result = check(history)
    data = reporting.build(result, history)
    if out is not None:
        replace_file(out / "report.json", json.dumps(data, indent=2) + "\n")
        timeline.write(out / "timeline.html", history, result, f"check of {args.history}")
    _print(data, args.json, reporting.render_text)
    return _exit_code(result.valid)


def _run_selftest(args: argparse.Namespace) -> int:
    from .stress.selftest import selftest, storage

    def announce(outcome: Any) -> None:
        verdict = {True: "passed", False: "caught", None: "unknown"}[outcome.valid]
        mark = "ok  " if outcome.as_expected else "FAIL"
        console.say(f"{mark} {outcome.scenario.name:17} {outcome.backend:21} {verdict:7} after "
                    f"{outcome.runs} run(s), {outcome.seconds:5.1f} s"
                    + (f": {outcome.first_violation}" if outcome.valid is False else ""))

    def announce_storage(outcome: Any) -> None:
        mark = "ok  " if outcome.as_expected else "FAIL"
        verdict = "caught" if outcome.caught else "passed"
        console.say(f"{mark} {outcome.scenario.check:17} {outcome.queue:21} {verdict:7} in "
                    f"{outcome.seconds:5.1f} s: {outcome.detail}")

    root = usable(args.out, "--out") if args.out is not None else Path(
        tempfile.mkdtemp(prefix="harness-selftest-"))
    stop = StopRequest().install()
    try:
        outcomes: list[Any] = selftest(root, args.seed, announce, stop=stop)
        if not stop.requested:
            storage_root = root / "storage"
            storage_root.mkdir(exist_ok=True)
            outcomes += storage(storage_root, announce_storage, stop=stop)
    finally:
        stop.restore()
        if args.out is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    failed = [o for o in outcomes if not o.as_expected]
    if stop.requested:
        console.say(f"selftest: {stop.reason} after {len(outcomes)} runs")
        return EXIT_VIOLATION if failed else stop.exit_code
    console.say(f"selftest: {len(outcomes) - len(failed)} of {len(outcomes)} as expected; "
                + ("every mutant caught, the real queue passed" if not failed else "FAILED"))
    return EXIT_VALID if not failed else EXIT_VIOLATION


def _print(data: dict[str, Any], as_json: bool, render: Any) -> None:
    console.say(json.dumps(data, indent=2) if as_json else render(data))


def _fail(reason: str) -> int:
    print(f"harness: error: {reason}", file=sys.stderr)
    return EXIT_FAILED


def _run_pod(args: argparse.Namespace) -> int:
    from .localpod import run_pod

    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="queue-pod-")) if temporary else usable(
        args.workdir, "--workdir")
    for shared in ("shared-queue", "shared-results"):
        usable(workdir / shared, "--workdir")
    console.say(f"running the Pod's roles in {workdir} for {args.duration:g} s "
                f"at time scale {args.time_scale:g}")
    stop = StopRequest().install()
    try:
        verdict = run_pod(workdir, duration=args.duration, time_scale=args.time_scale,
                          consumers=args.consumers, drain_timeout=args.drain_timeout,
                          say=console.say, stop=stop)
    finally:
        stop.restore()
        if temporary and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    console.say(verdict.describe())
    if stop.requested:
        return EXIT_VIOLATION if verdict.certain_violations else stop.exit_code
    return EXIT_VALID if verdict.valid else EXIT_VIOLATION
