"""``harness survey``: the same loads on every available backend, one table to read.

Each cell is one ``run_stress`` checked by ``harness.checkers.check``, run in a child process
of its own with a time limit, so that a backend that hangs or crashes the harness is a cell
``failed: ...`` and the survey goes on. ``survey.json`` holds every figure; ``survey.md`` is
the table (one row per backend, one column per load), the versions of every library, and
what the single-process ones say of themselves.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import platform
import shutil
import sqlite3
import subprocess
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from .backends.peers import PEERS
from .backends.registry import BackendSpec, resolve
from .history.format import AT_LEAST_ONCE, AT_MOST_ONCE

#: The backends surveyed by default: this project's queue, then every peer.
DEFAULT_BACKENDS = ("filequeue", *PEERS)
#: A cell whose child has not answered this long after the run's own timeout is abandoned.
GRACE_SECONDS = 60.0

_fork = multiprocessing.get_context("fork")


@dataclass(frozen=True)
class Load:
    """One column: how many processes, whether the harness kills them, which delivery."""

    producers: int
    consumers: int
    kills: bool
    delivery: str

    @property
    def name(self) -> str:
        kills = ", SIGKILLs" if self.kills else ""
        mode = "claim/ack" if self.delivery == AT_LEAST_ONCE else "get"
        return f"{self.producers}+{self.consumers} {mode}{kills}"


LOADS = tuple(Load(n, n, kills, delivery)
                  for delivery in (AT_MOST_ONCE, AT_LEAST_ONCE)
                  for n in (4, 16) for kills in (False, True))


@dataclass
class Cell:
    """One run's outcome: ``VALID``, ``INVALID``, ``UNKNOWN``, ``failed`` or ``n/a``."""

    status: str
    summary: str = ""
    items_per_second: float | None = None
    wall_seconds: float | None = None
    kills: int = 0
    counts: dict[str, int] | None = None

    def text(self) -> str:
        """The cell as the table shows it."""
        speed = "" if self.items_per_second is None else f"{self.items_per_second:,.0f}/s"
        if self.status == "VALID":
            return f"VALID {speed}"
        if self.status in ("INVALID", "UNKNOWN"):
            return f"**{self.status}**: {self.summary}" + (f" ({speed})" if speed else "")
        if self.status == "n/a":
            return "n/a"
        return f"{self.status}: {self.summary}" if self.summary else self.status


def summarize(report: Any, history: list[dict[str, Any]]) -> str:
    """The problems of an invalid history in a few words: ``lost 12, duplicated 9,741``,
    ``raised "database is locked"``..."""
    counts = report.counts
    parts = [f"{word} {counts[key]:,}" for key, word in (("lost", "lost"),
                                                          ("duplicated", "duplicated"),
                                                          ("unexpected", "unexpected"))
             if counts.get(key)]
    for name, checker in report.checkers.items():
        if checker.valid is None:
            parts.append(f"{name} undecided: {checker.error}"[:80])
        elif checker.valid is False and name == "errors":
            error = str(history[checker.violations[0].ops[0]].get("error", ""))
            parts.append(f'raised "{_short(error)}"' + (f" ({checker.count:,} times)"
                                                         if checker.count > 1 else ""))
        elif checker.valid is False and name != "queue":
            kinds = {v.kind for v in checker.violations}
            if counts.get("duplicated"):
                kinds.discard("repeated")  # a duplicate is also a repeated get to FIFO
            if kinds:
                label = "FIFO" if name == "fifo" else name
                parts.append(f"{label} broken ({', '.join(sorted(kinds))})")
    return ", ".join(parts[:2]) or "invalid"


def _short(error: str, width: int = 60) -> str:
    text = error.splitlines()[0] if error else ""
    return text if len(text) <= width else text[:width - 3] + "..."


def run_cell(backend: str, load: Load, items: int, kill_every_ms: float,
             workdir: Path, timeout: float, seed: int) -> Cell:
    """One load on one backend, in this process: the run, checked."""
    from .checkers import check
    from .stress.config import StressConfig
    from .stress.run import run_stress

    config = StressConfig(producers=load.producers, consumers=load.consumers,
                          items=items, backend=backend, delivery=load.delivery,
                          kill_every_ms=kill_every_ms if load.kills else None,
                          timeout=timeout, seed=seed)
    run = run_stress(config, workdir)
    report = check(run.history)
    counts = report.counts
    moved = counts.get("acked", counts.get("got", 0))
    status = {True: "VALID", False: "INVALID", None: "UNKNOWN"}[report.valid]
    summary = "" if report.valid else summarize(report, run.history)
    if run.failure and report.valid is not False:
        status, summary = "failed", f"{run.failure}"[:100]
    elif run.failure:
        summary += f"; {run.failure}"[:100]
    return Cell(status, summary, moved / run.wall_seconds if run.wall_seconds else None,
                round(run.wall_seconds, 2), run.kills, counts)


def _cell_in_child(connection: Any, *args: Any) -> None:
    try:
        cell = run_cell(*args)
    except Exception as error:
        cell = Cell("failed", f"{type(error).__name__}: {_short(str(error))}")
        traceback.print_exc()
    connection.send(asdict(cell))
    connection.close()


def isolated_cell(backend: str, load: Load, items: int, kill_every_ms: float,
                  workdir: Path, timeout: float, seed: int,
                  grace: float = GRACE_SECONDS) -> Cell:
    """``run_cell`` in a child process: a hang (no answer ``grace`` seconds after the run's
    own ``timeout``) or a crash is a ``failed`` cell."""
    receive, send = _fork.Pipe(duplex=False)
    child = _fork.Process(target=_cell_in_child, daemon=False, args=(
        send, backend, load, items, kill_every_ms, workdir, timeout, seed))
    child.start()
    send.close()
    answered = receive.poll(timeout + grace)
    try:
        if answered:
            return Cell(**receive.recv())
        return Cell("failed", f"no answer after {timeout + grace:g} s (hung)")
    except EOFError:
        return Cell("failed", f"the run crashed the harness (exit code {child.exitcode})")
    finally:
        if child.is_alive() and not answered:
            child.kill()
        child.join()


def versions() -> dict[str, str]:
    """The versions of Python, SQLite, redis-server and every peer's library."""
    found = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
             "platform": platform.platform()}
    for package in sorted({peer.package for peer in PEERS.values()}):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    binary = shutil.which("redis-server")
    if binary:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            found["redis-server"] = subprocess.run(
                [binary, "--version"], capture_output=True, text=True, timeout=10,
                check=False).stdout.split()[2].removeprefix("v=")
    return found


def _why_not(spec: BackendSpec, delivery: str) -> str | None:
    """Why ``spec`` cannot do ``delivery`` here, or None."""
    reason = spec.missing()
    if reason is not None:
        return reason
    try:
        spec.refuse_unless(delivery)
    except ValueError:
        return "not supported by the library"
    except Exception as error:
        return f"cannot open: {type(error).__name__}: {_short(str(error))}"
    return None


def survey(backends: Sequence[str], items: int, kill_every_ms: float, workdir: Path,
           timeout: float, seed: int = 0, loads: Sequence[Load] = LOADS,
           say: Callable[[str], None] = print) -> dict[str, Any]:
    """Every load on every backend; the content of ``survey.json``."""
    rows = []
    for name in backends:
        spec = resolve(name)
        cells: dict[str, dict[str, Any]] = {}
        for load in loads:
            reason = _why_not(spec, load.delivery)
            if reason is not None:
                cell = Cell("n/a" if reason.startswith("not supported") else "skipped", reason)
            else:
                cell = isolated_cell(name, load, items, kill_every_ms, workdir, timeout,
                                     seed)
            cells[load.name] = asdict(cell)
            say(f"{name:26} {load.name:24} {cell.text()}")
        peer = spec.peer
        rows.append({"backend": name, "about": spec.about, "origin": spec.origin,
                     "says": peer.says if peer else "", "issue": peer.issue if peer else "",
                     "cells": cells})
    return {"items": items, "kill_every_ms": kill_every_ms, "timeout": timeout, "seed": seed,
            "loads": [dict(asdict(w), name=w.name) for w in loads],
            "versions": versions(), "rows": rows,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def render_markdown(data: dict[str, Any]) -> str:
    """``survey.md``: the table, what the libraries say of themselves, and the versions."""
    names = [w["name"] for w in data["loads"]]
    lines = [
        "# Survey: local persistent queues under many processes",
        "",
        f"{data['date']}: `harness survey --items {data['items']} --kill-every "
        f"{data['kill_every_ms']:g}` (timeout {data['timeout']:g} s per run, seed "
        f"{data['seed']}). Each cell is one `harness stress` run checked by the harness's "
        "checkers: VALID, or INVALID with what went wrong, and the items moved per second "
        "(on a shared 2-core machine: compare within a column, not with the benchmarks). "
        "`get`: at most once; `claim/ack`: at least once, where the library has it.",
        "",
        "| backend | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for row in data["rows"]:
        cells = [Cell(**row["cells"][name]).text().replace("|", "\\|") for name in names]
        lines.append(f"| `{row['backend']}` | " + " | ".join(cells) + " |")
    lines += ["", "## What the backends are, and what they say of themselves", ""]
    for row in data["rows"]:
        line = f"- `{row['backend']}`: {row['about']}"
        if row["says"]:
            line += f'; it says: "{row["says"]}"'
        if row["issue"]:
            line += f"; see {row['issue']}"
        lines.append(line)
    lines += ["", "## Versions", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {version} |" for name, version in data["versions"].items()]
    return "\n".join(lines) + "\n"


def write(data: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``survey.json`` and ``survey.md`` into ``out``; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "survey.json", out / "survey.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md_path.write_text(render_markdown(data))
    return json_path, md_path
