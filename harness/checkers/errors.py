"""The ``errors`` checker: an operation that raised is a violation, unless the queue reported a
failing disk (and then it must have changed nothing, which the other checkers hold it to)."""

from __future__ import annotations

from .base import CheckerResult, Clock, History, Violation, describe, verdict

#: Errors by which the queue reports a failing disk and promises it changed nothing: an
#: operation that raised one did not happen, which the other checkers hold it to.
STORAGE_ERRORS = ("StorageError", "QueueFullError")


def check_errors(history: History, failed: list[int], clock: Clock) -> CheckerResult:
    """The ``errors`` checker: every operation that raised is a violation, except a storage
    error (a disk that failed; the operation must then have changed nothing)."""
    found = []
    for index in failed:
        op = history[index]
        if str(op.get("error", "")).startswith(STORAGE_ERRORS):
            continue
        found.append(Violation(
            "error", f"{describe(op)} raised {op.get('error') or 'an error'} at "
            f"{clock.since_start(op['return'])} (operation {index}, process {op['process']})",
            [index], op["return"]))
    return verdict("errors", found)
