"""Write the report of a mutmut run: the score, and every surviving mutant with its change.

Run from the project root after ``mutmut run`` (``tox -e mutation`` does both). It reads the
results mutmut keeps in ``mutants/`` and the equivalent mutants listed in
``tools/mutation/equivalent.txt`` (one per line: the mutant's name, the fingerprint of its
change as the report shows it, then the reason it cannot change behaviour), and writes
``tools/mutation/report.md``. The score counts a mutant as
killed when a test failed or timed out on it; the mutants listed as equivalent leave the
count. Exits with status 1 when the score is under ``--fail-under`` or a listed mutant no
longer survives or now makes another change (the list is stale: the code or the tests
changed).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).parent
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
SURVIVED = {"survived", "no tests", "suspicious"}


def unchecked(results: dict[str, tuple[str, Path]]) -> list[str]:
    """The mutants whose check gave no verdict (not run, interrupted, skipped): they count
    neither as killed nor as survived, so a run that leaves any is incomplete."""
    return sorted(n for n, (status, _) in results.items() if status not in KILLED | SURVIVED)


def load_results() -> dict[str, tuple[str, Path]]:
    """Each mutant's name -> (status, source file)."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    results = {}
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for name, exit_code in data.exit_code_by_key.items():
            results[name] = (status_by_exit_code[exit_code], path)
    return results


def load_equivalents(path: Path) -> dict[str, tuple[str, str]]:
    """The listed equivalent mutants -> (fingerprint of their change, reason)."""
    listed = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, mark, reason = line.split(maxsplit=2)
            listed[name] = (mark, reason)
    return listed


def change_of(name: str, path: Path) -> str:
    """The mutated lines, as ``- old`` / ``+ new``."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    lines = [line for line in get_diff_for_mutant(name, path=path).splitlines()
             if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return "\n".join(lines)


def fingerprint(change: str) -> str:
    """Eight hex digits that name a change, whatever its mutant's number."""
    return hashlib.sha256(change.encode()).hexdigest()[:8]


def function_of(name: str) -> str:
    """The mutated function of a mutant's name (its number dropped)."""
    return name.rsplit("__mutmut_", 1)[0]


def match_equivalents(survivors: dict[str, str], listed: dict[str, tuple[str, str]]
                      ) -> tuple[dict[str, str], list[str]]:
    """The surviving mutants that are listed as equivalent (name -> reason), and the listed
    entries that match no survivor (stale). ``survivors``: name -> fingerprint of its change.

    An entry matches the survivor of the same name with the same change, or else a survivor of
    the same function with the same change: an edit elsewhere in the function renumbers its
    mutants without changing what each one does.
    """
    by_change = {(function_of(n), mark): n for n, mark in survivors.items()}
    reasons: dict[str, str] = {}
    stale = []
    for name, (mark, reason) in listed.items():
        if survivors.get(name) == mark and name not in reasons:
            reasons[name] = reason
    for name, (mark, reason) in listed.items():
        if survivors.get(name) == mark:
            continue
        match = by_change.get((function_of(name), mark))
        if match is None or match in reasons:
            stale.append(name)
        else:
            reasons[match] = reason
    return reasons, sorted(stale)


def _module_rows(results: dict[str, tuple[str, Path]], equivalent: set[str]) -> list[str]:
    rows = []
    for module in sorted({name.split(".x")[0] for name in results}):
        names = [n for n in results if n.split(".x")[0] == module]
        killed = sum(results[n][0] in KILLED for n in names)
        gone = sum(n in equivalent for n in names)
        survived = len(names) - killed - gone
        score = 100.0 * killed / (killed + survived) if killed + survived else 100.0
        rows.append(f"| {module} | {len(names)} | {killed} | {survived} | {gone} | {score:.1f}% |")
    return rows


def render(results: dict[str, tuple[str, Path]],
           equivalents: dict[str, tuple[str, str]]) -> tuple[str, float, int]:
    """The report's text, the score (percent) and the number of stale equivalent entries."""
    counts = Counter(status for status, _ in results.values())
    surviving = {n for n, (s, _) in results.items() if s in SURVIVED}
    changes = {n: change_of(n, results[n][1]) for n in sorted(surviving)}
    reasons, stale = match_equivalents(
        {n: fingerprint(change) for n, change in changes.items()}, equivalents)
    equivalent = set(reasons)
    gaps = sorted(surviving - equivalent)
    killed = sum(counts[s] for s in KILLED)
    scored = killed + len(gaps)
    score = 100.0 * killed / scored if scored else 100.0
    out = [
        "# Mutation report (generated by tools/mutation/report.py: do not edit)",
        "",
        f"- mutants: {len(results)}",
        *(f"- {status}: {counts[status]}" for status in sorted(counts)),
        f"- equivalent (listed in equivalent.txt): {len(equivalent)}",
        f"- **score: {killed} of {scored} non-equivalent mutants killed = {score:.1f}%**",
        "",
        "| module | mutants | killed | survived | equivalent | score |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *_module_rows(results, equivalent),
        "",
        f"## Survivors that are not listed as equivalent ({len(gaps)})",
        "",
    ]
    for name in gaps:
        out += [f"### `{name}` ({results[name][0]}, change {fingerprint(changes[name])})", "",
                "```diff", changes[name], "```", ""]
    out += [f"## Equivalent survivors ({len(equivalent)})", ""]
    for name in sorted(equivalent):
        out += [f"- `{name}`: {reasons[name]}", "", "```diff", changes[name], "```", ""]
    if stale:
        out += ["", f"## Listed as equivalent but not surviving with that change ({len(stale)})",
                ""]
        out += [f"- `{name}`: {results.get(name, ('not generated',))[0]}, or another change"
                for name in stale]
    return "\n".join(out) + "\n", score, len(stale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equivalent", type=Path, default=HERE / "equivalent.txt")
    parser.add_argument("--out", type=Path, default=HERE / "report.md")
    parser.add_argument("--fail-under", type=float, default=0.0, metavar="PERCENT")
    args = parser.parse_args(argv)
    results = load_results()
    if not results:
        print("no mutmut results in mutants/: run `mutmut run` first", file=sys.stderr)
        return 2
    text, score, stale = render(results, load_equivalents(args.equivalent))
    args.out.write_text(text)
    print(text.split("\n## ")[0])
    print(f"report: {args.out}")
    if stale:
        print(f"{stale} mutants listed as equivalent no longer survive: update "
              f"{args.equivalent}", file=sys.stderr)
    left = unchecked(results)
    if left:
        print(f"{len(left)} mutants have no verdict (run them again: mutmut run NAME...): "
              + " ".join(left[:10]) + (" ..." if len(left) > 10 else ""), file=sys.stderr)
    if score < args.fail_under:
        print(f"score {score:.1f}% is under {args.fail_under}%", file=sys.stderr)
    return 1 if stale or left or score < args.fail_under else 0


if __name__ == "__main__":
    sys.exit(main())
