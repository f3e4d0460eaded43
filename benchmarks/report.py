"""Turn a ``--benchmark-json`` file into a Markdown table, the targets' ratios and PNG plots.

    python -m benchmarks.report benchmarks/results/latest.json --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PEERS = ("persist-queue-file", "persist-queue-sqlite-ack", "litequeue", "diskcache-deque")
OURS = "filequeue-journal"


def load(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The machine info and one row per benchmark: group, backend, items/s and extras."""
    data = json.loads(path.read_text())
    rows = []
    for bench in data["benchmarks"]:
        extra = bench.get("extra_info", {})
        if any(key in extra for key in ("items_per_second", "core_share", "peak_rss_bytes")):
            rows.append({"group": bench["group"], **extra})
    return data.get("machine_info", {}), rows


#: Families measured beside the queues, not as a queue: shown under the table.
ASIDE = frozenset({"raw", "checker", "monitor", "latency", "batch", "group-commit", "idle"})


def table(rows: list[dict[str, Any]]) -> str:
    """Backends down, scenarios across, items per second in the cells."""
    queues = [r for r in rows if r["family"] not in ASIDE]
    groups = list(dict.fromkeys(r["group"] for r in queues))
    cells: dict[str, dict[str, str]] = defaultdict(dict)
    for r in queues:
        text = f"{r['items_per_second']:,.0f}"
        if r.get("error"):
            text = f"failed: {r['error'].rpartition('first: ')[2][:80]}"
        elif r.get("lost") or r.get("duplicated"):
            text += f" ({r['lost']} lost, {r['duplicated']} dup)"
        cells[r["backend"]][r["group"]] = text
    lines = ["| backend | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
    for backend, by_group in cells.items():
        lines.append(f"| {backend} | " + " | ".join(by_group.get(g, "—") for g in groups) + " |")
    raw = [r for r in rows if r["family"] == "raw"]
    if raw:
        lines.append("")
        lines.append("Raw limits, same run: " + "; ".join(
            f"{r['backend']}: {r['items_per_second']:,.0f}/s" for r in raw))
    for r in (r for r in rows if r["family"] == "checker"):
        lines.append("")
        lines.append(f"The checker, same run: {r['backend']} of {r['items']:,} operations in "
                     f"{r['items'] / r['items_per_second']:.2f} s (read, check, report)")
    return "\n".join(lines)


#: A million-operation history checked in 5 s: 200,000 operations a second.
CHECKER_BUDGET = 1_000_000 / 5


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, float | None, float, str]]:
    """(target, measured ratio or None, required ratio, how it was computed)."""
    def rate(backend: str, group: str) -> float | None:
        found = [r["items_per_second"] for r in rows
                 if r["backend"] == backend and r["group"] == group and not r.get("error")
                 and not r.get("lost") and not r.get("duplicated")]
        return found[0] if found else None

    def best_peer(group: str) -> tuple[str, float | None]:
        rated = [(rate(p, group), p) for p in PEERS if rate(p, group)]
        if not rated:
            return "no peer", None
        value, name = max(rated)
        return name, value

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    out = []
    group = "pairs at backlog 0"
    peer, peer_rate = best_peer(group)
    out.append((f"{OURS} vs best file peer, backlog 0", ratio(rate(OURS, group), peer_rate), 5.0,
                f"÷ {peer}"))
    out.append((f"{OURS} vs multiprocessing.Queue, backlog 0",
                ratio(rate(OURS, group), rate("multiprocessing-queue", group)), 0.4, ""))
    out.append((f"{OURS} at backlog 100,000 vs its backlog 0",
                ratio(rate(OURS, "pairs at backlog 100,000"), rate(OURS, group)), 0.75, ""))
    for procs in ("4+4", "16+16"):
        g = f"{procs} processes, 20,000 items"
        peer, peer_rate = best_peer(g)
        out.append((f"{OURS} vs best file peer, {procs} processes", ratio(rate(OURS, g), peer_rate),
                    3.0, f"÷ {peer}"))
    raw = [r["items_per_second"] for r in rows if r["backend"] == "append+fsync 200 B"]
    out.append((f"{OURS}-fsync puts vs raw append+fsync",
                ratio(rate(f"{OURS}-fsync", "puts alone"), raw[0] if raw else None), 0.7,
                "one put = one append + one fsync"))
    out.append(("harness check of 1,000,000 operations within 5 s",
                ratio(rate("harness check", "checker"), CHECKER_BUDGET), 1.0,
                "operations/s ÷ 200,000/s"))
    return out


#: Issue 14's targets (benchmarks/test_issue14.py, test_monitor_scale.py).
LATENCY_P50_MS, LATENCY_P99_MS = 1.0, 10.0
IDLE_CORE_SHARE = 0.01
BATCH_100_RATE, BATCH_100_VS_PAIRS = 250_000, 6.0
DURABLE_8_VS_RAW, DURABLE_1_VS_RAW = 3.0, 0.9
MONITOR_RSS_MIB, MONITOR_NEW_MS, MONITOR_FIRST_S = 32, 100, 30


def _row(rows: list[dict[str, Any]], backend: str) -> dict[str, Any] | None:
    found = [r for r in rows if r.get("backend") == backend]
    return found[0] if found else None


def issue14_targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, bool | None]]:
    """(target, the figure measured, what is required, met: True/False, None if not run)."""
    out: list[tuple[str, str, str, bool | None]] = []

    def add(name: str, value: float | None, required: float, unit: str, *,
            at_most: bool = False, digits: int = 2) -> None:
        shown = "not run" if value is None else f"{value:,.{digits}f}{unit}"
        sign = "<=" if at_most else ">="
        met = None if value is None else (value <= required if at_most else value >= required)
        out.append((name, shown, f"{sign} {required:,g}{unit}", met))

    latency = next((r for r in rows
                    if r.get("family") == "latency" and r.get("backend") == OURS), None)
    add("put-to-get latency p50, 1 producer, 4 blocked consumers",
        latency and latency["p50_ms"], LATENCY_P50_MS, " ms", at_most=True, digits=3)
    add("put-to-get latency p99", latency and latency["p99_ms"], LATENCY_P99_MS, " ms",
        at_most=True, digits=3)
    idle = next((r for r in rows if r.get("family") == "idle"), None)
    add("CPU of 8 idle blocked consumers, share of one core",
        idle and idle["core_share"] * 100, IDLE_CORE_SHARE * 100, " %", at_most=True, digits=3)
    batch = _row(rows, f"{OURS}, batch 100")
    batch_rate = batch and batch["items_per_second"]
    add("put_many + get_many, batches of 100, items/s", batch_rate, BATCH_100_RATE, "/s",
        digits=0)
    pairs = [r["items_per_second"] for r in rows
             if r.get("backend") == OURS and r.get("group") == "pairs at backlog 0"]
    add("batches of 100 vs single-operation pairs at backlog 0",
        batch_rate / pairs[0] if batch_rate and pairs else None, BATCH_100_VS_PAIRS, "x")
    raw = _row(rows, "append+fsync 200 B")
    raw_rate = raw and raw["items_per_second"]
    for producers, required in ((8, DURABLE_8_VS_RAW), (1, DURABLE_1_VS_RAW)):
        durable = _row(rows, f"{OURS}-fsync, {producers} producers")
        add(f"durable puts, {producers} producer{'s' * (producers > 1)}, vs raw append+fsync",
            durable["items_per_second"] / raw_rate if durable and raw_rate else None,
            required, "x")
    rss = _row(rows, "monitor peak RSS")
    add("monitor peak RSS (first report, then one more)",
        rss and rss["peak_rss_bytes"] / 2**20, MONITOR_RSS_MIB, " MiB", at_most=True, digits=1)
    new = _row(rows, "monitor report after 100 new")
    add("monitor report after 100 new results",
        new and new["items"] / new["items_per_second"] * 1000, MONITOR_NEW_MS, " ms",
        at_most=True, digits=1)
    first = _row(rows, "monitor first report")
    files = f" over {first['items']:,} result files" if first else ""
    add(f"monitor first report{files}", first and first["items"] / first["items_per_second"],
        MONITOR_FIRST_S, " s", at_most=True, digits=1)
    return out


def issue14_markdown(rows: list[dict[str, Any]]) -> str:
    """The issue 14 section: its targets, then the latency and group-commit figures."""
    lines = ["| target | measured | required | |", "|---|---|---|---|"]
    for name, shown, required, met in issue14_targets(rows):
        verdict = "" if met is None else ("met" if met else "**missed**")
        lines.append(f"| {name} | {shown} | {required} | {verdict} |")
    latency = [r for r in rows if r.get("family") == "latency"]
    if latency:
        lines += ["", "Put-to-get latency across processes (1 producer at a steady rate, "
                  "4 consumers blocked in get):", "",
                  "| backend | p50 | p99 | max | lost | duplicated |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['backend']} | {r['p50_ms']:.3f} ms | {r['p99_ms']:.3f} ms | "
                  f"{r['max_ms']:.3f} ms | {r.get('lost', 0)} | {r.get('duplicated', 0)} |"
                  for r in latency]
    durable = sorted((r for r in rows if r.get("family") == "group-commit"),
                     key=lambda r: r["producers"])
    if durable:
        lines += ["", "Durable puts (fsync=True, group commit): " + "; ".join(
            f"{r['producers']} producers {r['items_per_second']:,.0f}/s"
            + (f" ({r['puts_per_fsync']:.1f} puts per fsync)" if "puts_per_fsync" in r else "")
            for r in durable)]
    batches = sorted((r for r in rows if r.get("family") == "batch"), key=lambda r: r["batch"])
    if batches:
        lines += ["", "put_many + get_many, one process: " + "; ".join(
            f"batch {r['batch']}: {r['items_per_second']:,.0f} items/s" for r in batches)]
    return "\n".join(lines)


def targets_markdown(results: list[tuple[str, float | None, float, str]]) -> str:
    lines = ["| target | measured | required | |", "|---|---|---|---|"]
    for name, measured, required, note in results:
        shown = "n/a" if measured is None else f"{measured:.2f}x"
        verdict = "" if measured is None else ("met" if measured >= required else "**missed**")
        lines.append(f"| {name} {note} | {shown} | >= {required}x | {verdict} |")
    return "\n".join(lines)


def plots(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """throughput-vs-backlog.png and throughput-vs-processes.png; the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, key, xlabel, pick in (
        ("throughput-vs-backlog.png", "backlog", "backlog (items waiting)",
         lambda r: r["group"].startswith("pairs at backlog")),
        ("throughput-vs-processes.png", "processes", "processes (producers + consumers)",
         lambda r: "processes" in r),
    ):
        series: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for r in rows:
            if pick(r) and not (r.get("error") or r.get("lost") or r.get("duplicated")):
                series[r["backend"]].append((r[key], r["items_per_second"]))
        if not series:
            continue
        figure, axes = plt.subplots(figsize=(8, 5))
        colors = plt.get_cmap("tab20").colors
        for n, (backend, points) in enumerate(sorted(series.items())):
            points.sort()
            xs = [max(x, 1) if key == "backlog" else x for x, _ in points]
            axes.plot(xs, [y for _, y in points], marker="o", label=backend,
                      color=colors[(2 * n) % 20 + (2 * n) // 20],
                      linewidth=2.5 if backend.startswith("filequeue-journal") else 1.2)
        if key == "backlog":
            axes.set_xscale("log")
            axes.set_xlabel(xlabel + " (0 drawn at 1)")
        else:
            axes.set_xlabel(xlabel)
        axes.set_yscale("log")
        axes.set_ylabel("items per second (log)")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(out / name, dpi=110)
        plt.close(figure)
        written.append(out / name)
    return written


def render(machine: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The Markdown page: machine, table, targets."""
    cpu = machine.get("cpu", {}).get("brand_raw") or machine.get("processor") or "unknown CPU"
    cores = machine.get("cpu", {}).get("count")
    head = (f"Machine: {cpu}" + (f", {cores} cores" if cores else "")
            + f", Python {machine.get('python_version', '?')}, {machine.get('system', '?')} "
            f"{machine.get('release', '')}\n")
    return (f"{head}\nItems per second (higher is better):\n\n{table(rows)}\n\n"
            f"Targets:\n\n{targets_markdown(targets(rows))}\n\n"
            f"Issue 14 targets:\n\n{issue14_markdown(rows)}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Write results.md and the plots next to the JSON (or into --out)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", type=Path, help="a file written by --benchmark-json")
    parser.add_argument("--out", type=Path, default=None, help="directory for results.md, PNGs")
    args = parser.parse_args(argv)
    try:
        machine, rows = load(args.json)
    except (OSError, ValueError, KeyError) as error:
        print(f"benchmarks.report: cannot read {args.json}: {error}", file=sys.stderr)
        return 2
    out = args.out or args.json.parent
    out.mkdir(parents=True, exist_ok=True)
    page = render(machine, rows)
    (out / "results.md").write_text(page)
    written = plots(rows, out)
    print(page)
    print("wrote", ", ".join(str(p) for p in [out / "results.md", *written]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
