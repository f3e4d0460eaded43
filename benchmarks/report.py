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
        if "items_per_second" in extra:
            rows.append({"group": bench["group"], **extra})
    return data.get("machine_info", {}), rows


#: Families measured beside the queues, not as a queue: shown under the table.
ASIDE = frozenset({"raw", "checker", "monitor"})


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
            f"Targets:\n\n{targets_markdown(targets(rows))}\n")


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
