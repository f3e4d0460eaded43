"""What a person reads after a run: verdict, counts, throughput and latency, as text or JSON."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import Any

from ..checkers import CheckReport
from ..stress.run import StressRun

VERDICTS = {True: "VALID", False: "INVALID", None: "UNKNOWN"}

#: Records that mark an event, not a call to the queue: they have no latency.
EVENTS = frozenset({"killed"})


def latency(history: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """p50, p99 and max milliseconds of the calls that returned, per operation type.

    The drain's calls and the harness's own events (``killed``) are not counted.
    """
    spans: dict[str, list[int]] = defaultdict(list)
    for op in history:
        if op["type"] == "ok" and op["process"] != "drain" and op["op"] not in EVENTS:
            spans[op["op"]].append(op["return"] - op["call"])
    table = {}
    for name, values in sorted(spans.items()):
        values.sort()
        table[name] = {
            "count": len(values),
            "p50_ms": _ms(values[len(values) // 2]),
            "p99_ms": _ms(values[min(len(values) - 1, int(len(values) * 0.99))]),
            "max_ms": _ms(values[-1]),
        }
    return table


def throughput(history: list[dict[str, Any]], seconds: float | None = None) -> dict[str, float]:
    """Operations and items per second over ``seconds`` (default: the history's own span)."""
    first, last, ok, puts, gets = math.inf, -math.inf, 0, 0, 0
    for op in history:  # one pass: histories run to millions of operations
        if op["process"] == "drain":
            continue
        first = min(first, op["call"])
        if op["return"] is not None:
            last = max(last, op["return"])
        if op["type"] != "ok":
            continue
        ok += 1
        name = op["op"]
        if name == "put":
            puts += 1
        elif (name == "get" and op["value"] is not None) or (
                name == "ack" and not op["value"].get("ended")):
            gets += 1  # got, or acked with at-least-once
    if seconds is None:
        seconds = (last - first) / 1e9 if last > -math.inf else 0.0
    rate = (lambda n: round(n / seconds, 1)) if seconds > 0 else (lambda n: 0.0)
    return {
        "seconds": round(seconds, 3),
        "operations_per_second": rate(ok),
        "puts_per_second": rate(puts),
        "items_got_per_second": rate(gets),
    }


def build(report: CheckReport, history: list[dict[str, Any]],
          run: StressRun | None = None) -> dict[str, Any]:
    """The content of ``report.json``: config, verdict, counts, first violation, speed."""
    data: dict[str, Any] = {"verdict": VERDICTS[report.valid], **report.to_json()}
    if run is not None:
        data["config"] = dataclasses.asdict(run.config)
        data["run"] = {"wall_seconds": round(run.wall_seconds, 3), "kills": run.kills,
                       "worker_failures": run.worker_failures, "failure": run.failure,
                       "tampered": run.tampered}
        if run.placement is not None:
            data["run"]["containers"] = run.placement
    data["throughput"] = throughput(history, run.wall_seconds if run else None)
    data["latency"] = latency(history)
    return data


def render_text(data: dict[str, Any]) -> str:
    """The report as a few lines a person reads top to bottom."""
    counts = data["counts"]
    partial = (f" (partial: {data.get('partial_reason')}; the verdict is on the history "
               "recorded until then)") if data.get("partial") else ""
    lines = [f"verdict: {data['verdict']}{partial}"]
    if "config" in data:
        c = data["config"]
        faults = f", SIGKILL every ~{c['kill_every_ms']:g} ms" if c["kill_every_ms"] else ""
        if c.get("faults"):
            faults += f", {'/'.join(c['faults'])} in {c['fault_rate']:.2%} of file calls"
        lines.append(f"run: {_count(c['producers'], 'producer')}, "
                     f"{_count(c['consumers'], 'consumer')}, {_count(c['readers'], 'reader')}, "
                     f"{_count(c['items'], 'item')} on {c['backend']}"
                     f"{' with fsync' if c['fsync'] else ''}{faults}; "
                     f"{data['run']['wall_seconds']:.2f} s, {_count(data['run']['kills'], 'kill')}")
        tampered = data["run"].get("tampered")
        if tampered:
            lines.append("tampered: " + ", ".join(f"{kind} {n}" for kind, n in tampered.items()))
        where = data["run"].get("containers")
        if where:
            users = f", users {'/'.join(map(str, where['users']))}" if where["users"] else ""
            lines.append(f"containers: on {where['on']}, image {where['image']}, "
                         f"{_count(where['restarts'], 'restart')} after kills{users}")
    if counts and "claimed" in counts:
        lines.append(
            "items: {put_ok} put, {claimed} deliveries, {acked} acked, {lost} lost, "
            "{remaining} remaining, {dead} dead; "
            "{redelivered} redelivered (after a nack {redelivered_after_nack}, a holder killed "
            "{redelivered_after_holder_killed}, a claim killed in flight "
            "{redelivered_after_killed_during_claim}, a lease that ended while its holder "
            "worked {redelivered_after_lease_ended}); {acks_refused} late acks refused; "
            "{crashed} operations crashed, {failed} raised".format_map(_Blank(counts)))
    elif counts:
        lines.append(
            "items: {put_ok} put, {got} got, {lost} lost, {remaining} remaining, {duplicated} "
            "duplicated, {unexpected} unexpected, {recovered} recovered, {taken_by_killed_gets} "
            "taken by killed gets (at-most-once); {crashed} operations crashed, {failed} raised"
            .format_map(_Blank(counts)))
    for name, result in data["checkers"].items():
        state = VERDICTS[result["valid"]].lower()
        detail = f" ({result['error']})" if result["error"] else (
            f" ({result['violations']} violations)" if result["violations"] else "")
        lines.append(f"  {name}: {state}{detail}")
    if data["first_violation"]:
        lines.append(f"first violation: {data['first_violation']['message']}")
    speed = data["throughput"]
    lines.append(f"throughput: {speed['operations_per_second']:.0f} ops/s, "
                 f"{speed['puts_per_second']:.0f} puts/s, "
                 f"{speed['items_got_per_second']:.0f} gets/s")
    for name, row in data["latency"].items():
        lines.append(f"  {name}: p50 {row['p50_ms']:.3f} ms, p99 {row['p99_ms']:.3f} ms, "
                     f"max {row['max_ms']:.3f} ms ({_count(row['count'], 'op')})")
    run = data.get("run") or {}
    if run.get("failure") and not partial:
        lines.append(f"run failed: {run['failure']}")
    for failure in run.get("worker_failures", [])[:5]:
        lines.append(f"worker failure: {failure}")
    return "\n".join(lines)


class _Blank(dict):
    """Counts for a report line; a count the checker could not make shows as '?'."""

    def __missing__(self, key: str) -> str:
        return "?"


def _count(number: Any, noun: str) -> str:
    """``number`` and ``noun``, in the plural unless ``number`` is 1 ("1 reader", "2 readers")."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _ms(ns: int) -> float:
    return round(ns / 1e6, 3)
