"""The final drain: after the workers, the harness takes what is left in the queue and opens it
afresh, recording both as operations of the process ``"drain"``, so that a queue left losing
items or unreadable shows in the history. Once it has seen the queue empty it records a
``drained`` operation: the proof the checkers need to call an item that never came out lost."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..history.format import DRAIN_PROCESS, DRAINED
from ..history.recorder import ListSink, Recorder
from .worker import answer, claim_id, claim_view, refused_by

#: The at-least-once drain looks at the queue this far in the future, so every lease has ended.
DRAIN_CLOCK_SHIFT = 3600.0

#: Opens the queue; with ``clock`` for the queues that take one.
Opener = Callable[..., Any]


def drain_gets(open_queue: Opener, limit: int) -> list[dict[str, Any]]:
    """Take every item left with ``get()`` (at most ``limit``), then open the queue afresh."""
    sink = ListSink()
    record = Recorder(DRAIN_PROCESS, sink)
    ok, queue = record("open", open_queue)
    if ok:
        for _ in range(limit):
            ok, item = record("get", queue.get)
            if not ok or item is None:
                break
        if ok and item is None:
            record(DRAINED, lambda: None)
        record("open", open_queue)
    return sink.records


def drain_claims(open_queue: Opener, lease: float, limit: int) -> list[dict[str, Any]]:
    """Claim and ack every item left, the leases of killed consumers included; record the dead
    letters; open the queue afresh."""
    sink = ListSink()
    record = Recorder(DRAIN_PROCESS, sink)

    def reopen() -> Any:
        return open_queue(clock=lambda: time.time() + DRAIN_CLOCK_SHIFT)

    ok, queue = record("open", reopen)
    if ok:
        for _ in range(limit):
            ok, claim = record("claim", lambda: queue.claim(lease), show=claim_view)
            if not ok or claim is None:
                break
            record("ack", lambda c=claim: answer(queue.ack, c, refused_by(queue)),
                   {"item": claim.item, "id": claim_id(claim)})
        if ok and claim is None:
            record(DRAINED, lambda: None)
        if callable(getattr(queue, "dead", None)):
            record("dead", lambda: [getattr(d, "item", d) for d in queue.dead()])
        record("open", reopen)
    return sink.records
