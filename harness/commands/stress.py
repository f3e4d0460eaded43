"""``harness stress``: run many processes (or containers) on one queue, record a history, check
it, and leave the evidence in a run folder."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

from ..backends.redis_server import add_redis_option, redis_for
from ..backends.registry import resolve
from ..containers.options import add_options as add_container_options
from ..containers.options import (
    container_defaults,
    placement_from,
    refuse_unless_placeable,
    run_placed,
)
from ..errors import BackendUnavailable, RedisServerError, UnknownBackend, UsageError
from ..flags import add_flags, from_args
from ..interrupt import StopRequest
from ..reporting import report as reporting
from ..reporting.console import (
    EXIT_FAILED,
    EXIT_VIOLATION,
    console,
    exit_code,
    new_run_directory,
    print_report,
)
from ..reporting.console import usable_directory as usable
from ..reporting.evidence import save_run
from ..stress.config import StressConfig
from ..stress.progress import ProgressLine
from ..stress.run import StressRun, run_stress


def add_parser(commands: Any) -> None:
    """Register ``stress``: the configuration's flags, where the evidence goes, containers."""
    stress = commands.add_parser(
        "stress", help="run many processes on one queue, record a history and check it",
        description="Spawn producers, consumers and size() readers as OS processes on one new "
        "queue, record every operation, drain the queue, check the history, and write "
        "DIR/history.jsonl, DIR/report.json and DIR/timeline.html.",
    )
    add_flags(stress, StressConfig)
    stress.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="where to write the results (default harness-runs/<time>)")
    stress.add_argument("--json", action="store_true", help="print the report as JSON")
    stress.add_argument("--quiet", action="store_true", help="no progress lines")
    add_redis_option(stress)
    add_container_options(stress)
    stress.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """The ``stress`` command; its exit code."""
    try:
        with redis_for(args.redis_server):
            return _stress(args)
    except RedisServerError as error:
        raise UsageError(f"--redis-server: {error}") from error


def config_from(args: argparse.Namespace) -> StressConfig:
    """The run the flags ask for (a seed from the clock unless given); ``UsageError`` for
    flags that cannot work together or a backend that cannot do what they ask."""
    seed = args.seed if args.seed is not None else time.time_ns() % 1_000_000
    config = from_args(StressConfig, args, seed=seed)
    try:
        resolve(config.backend).refuse_unless(config.delivery, config.fsync)
    except (UnknownBackend, BackendUnavailable) as error:
        raise UsageError(f"--backend: {error}") from error
    except ValueError as error:
        raise UsageError(f"--backend {config.backend}: {error}") from error
    except Exception as error:  # the backend's own code failed to open a queue
        raise UsageError(f"--backend {config.backend} cannot open a queue: "
                         f"{type(error).__name__}: {error}") from error
    return config


def _stress(args: argparse.Namespace) -> int:
    placement = placement_from(args)
    config = config_from(args)
    if placement is not None:
        config = container_defaults(config)
        refuse_unless_placeable(config, placement)
    if args.out is not None:
        refuse_a_used_folder(args.out)
    made = args.out is None or not args.out.exists()
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
            outcome = run_stress(config, workdir, progress=progress, stop=stop,
                                 keep_history_in=history_file)
        else:
            outcome = run_placed(config, placement, workdir, progress, stop, history_file)
        progress.close()
        valid = _write_run(outcome, out, args.json)
    except UsageError:
        if made and not history_file.stat().st_size:  # nothing ran: leave nothing behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        stop.restore()
    if outcome.stopped_by is not None:
        return EXIT_VIOLATION if valid is False else stop.exit_code
    if outcome.failure is not None:
        return EXIT_VIOLATION if valid is False else EXIT_FAILED
    return exit_code(valid)


def _write_run(outcome: StressRun, out: Path, as_json: bool) -> bool | None:
    """Save the run's evidence and print its report; the verdict."""
    result, data = save_run(outcome, out)
    print_report(data, as_json, reporting.render_text)
    return result.valid


#: What a folder that holds a run has: ``--out`` refuses it.
EVIDENCE = ("history.jsonl", "report.json", "timeline.html")


def refuse_a_used_folder(out: Path) -> None:
    """``UsageError`` if ``out`` holds a run already: two runs would write one history
    together, and the second would replace the first's report."""
    found = [name for name in EVIDENCE if (out / name).exists()]
    if found:
        raise UsageError(f"--out {out} holds a run already ({', '.join(found)}): choose "
                         "another folder, or move that one away")
