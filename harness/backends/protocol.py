"""The backend protocol: what the harness calls on anyone's queue, and what a queue can do.

A backend is opened by a factory, once in every worker process::

    def open_queue(directory: Path, *, fsync: bool, options: Mapping[str, Any]) -> backend

``directory`` is a new, empty folder shared by every worker of a run (the queue keeps its
files there); ``options`` may hold ``clock`` (a callable giving seconds, for leases: the
drain looks an hour ahead with it) and ``max_attempts``; a backend ignores what it does not
use. The backend has:

- ``put(item)``, ``get() -> item | None`` (``None``: empty), ``size() -> int``: at most once;
- optionally ``close()``;
- for at least once, ``claim(lease) -> claim | None`` (the claim has ``.item``, and ``.id``,
  ``.attempt``, ``.claimed_at`` and ``.until`` on the options' clock: the delivery checker's
  lease rules need them), ``ack(claim)``,
  ``nack(claim, delay)``, and optionally ``extend(claim, lease)`` and ``dead() -> list``
  (items with ``.item``, or the items themselves);
- optionally ``refused``: the exception classes by which ``ack``/``nack``/``extend`` refuse
  a claim whose item was delivered again (default ``queue_core.ClaimError``;
  ``harness.stress.worker.refused_by`` reads it); any other exception is an error.

Any call may raise an exception whose ``outcome_unknown`` attribute is true (as
``queue_core.StorageError`` does when it cannot tell whether its change stays): the
operation may have happened. It is recorded as ``info``, like an operation whose process
died during it, not as ``fail`` (which the checkers hold to "did not happen"), and its error
text is kept.

Items are the harness's own unique strings; a backend may store them as it likes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..history.format import AT_LEAST_ONCE, AT_MOST_ONCE

#: What every backend has (at-most-once delivery), and what at-least-once delivery needs.
AT_MOST_ONCE_CALLS = ("put", "get", "size")
AT_LEAST_ONCE_CALLS = ("claim", "ack", "nack")


@runtime_checkable
class QueueBackend(Protocol):
    """A queue the harness can stress at most once."""

    def put(self, item: Any) -> None: ...
    def get(self) -> Any | None: ...
    def size(self) -> int: ...


class BackendFactory(Protocol):
    """Opens a backend on ``directory``; called once in every worker process."""

    def __call__(self, directory: Path, *, fsync: bool,
                 options: Mapping[str, Any]) -> QueueBackend: ...


def missing_calls(backend: object, delivery: str) -> list[str]:
    """The calls ``backend`` lacks for ``delivery`` (``at-most-once`` or ``at-least-once``)."""
    needed = AT_MOST_ONCE_CALLS + (AT_LEAST_ONCE_CALLS if delivery == AT_LEAST_ONCE else ())
    return [name for name in needed if not callable(getattr(backend, name, None))]


def capabilities(backend: object) -> list[str]:
    """The delivery modes ``backend`` can do, and its optional calls."""
    found = [mode for mode in (AT_MOST_ONCE, AT_LEAST_ONCE)
             if not missing_calls(backend, mode)]
    found += [name for name in ("extend", "dead", "close") if callable(getattr(backend, name,
                                                                                None))]
    return found


def close(backend: object) -> None:
    """Call ``backend.close()`` if it has one."""
    closer = getattr(backend, "close", None)
    if callable(closer):
        closer()
