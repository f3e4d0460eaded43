"""The worker loops: what one producer, consumer or reader process does, one function per role.

Every operation goes through a ``Recorder``. Producers put unique values until their quota is
out or the stop marker appears; consumers take items until the producers are done and the
queue is empty, with ``get()`` (at most once) or with ``claim()`` then ``ack()`` or now and
then ``nack()`` (at least once); readers call ``size()`` as the Pod's monitor does.
Standard library and ``queue_core`` only, so that the same loops can run in a container.
"""

from __future__ import annotations

import functools
import inspect
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from queue_core import ClaimError

from ..history.format import AT_LEAST_ONCE
from ..history.recorder import Recorder
from .config import StressConfig
from .heartbeat import Heartbeat

#: A worker's exit codes: it finished, or one of its operations raised (recorded as ``fail``).
FINISHED, OPERATION_FAILED = 0, 3
#: Longest pause of a consumer that found the queue empty (a back-off, not a synchronisation).
EMPTY_BACKOFF = 0.001


@dataclass(frozen=True)
class WorkerPlan:
    """What one worker process does: its role, its name and seed, its share of the puts, the
    run's configuration, and the markers through which the harness tells it when to stop."""

    role: str  # "producer", "consumer" or "reader"
    process: Any
    seed: int
    config: StressConfig
    #: Producers: how many items to put.
    quota: int = 0
    #: Producers stop early once this file exists.
    stop_marker: Path | None = None
    #: Exists once every producer has finished: consumers and readers may then stop.
    done_marker: Path | None = None
    #: The file the harness touches while it watches the run (None, or no such file: nobody
    #: watches): once it stopped, the worker acts as if the producers were done, so that
    #: workers a dead harness left behind (in containers) end.
    heartbeat: Heartbeat | None = None

    @property
    def keep_going(self) -> bool:
        """True when a failed operation must not end the worker (faults are injected)."""
        return bool(self.config.faults)

    def producers_done(self) -> bool:
        """True once every producer has finished (or the harness is gone)."""
        return (self.done_marker is not None and self.done_marker.exists()) or self.abandoned()

    def stop_producing(self) -> bool:
        """True once producers must stop early (or the harness is gone)."""
        return (self.stop_marker is not None and self.stop_marker.exists()) or self.abandoned()

    def abandoned(self) -> bool:
        """True when the harness stopped touching the heartbeat file (``heartbeat``)."""
        return self.heartbeat is not None and self.heartbeat.stopped()

#: With faults, how many times a worker tries to open the queue before it gives up.
OPEN_ATTEMPTS = 100


def run_worker(plan: WorkerPlan, open_queue: Callable[[], Any], record: Recorder) -> int:
    """Open the queue and run the plan's role; ``FINISHED``, or ``OPERATION_FAILED``."""
    for _ in range(OPEN_ATTEMPTS if plan.keep_going else 1):
        ok, queue = record("open", open_queue)
        if ok:
            break
    else:
        return OPERATION_FAILED
    if plan.role == "producer":
        loop = produce
    elif plan.role == "reader":
        loop = read_sizes
    else:
        loop = consume_claims if plan.config.delivery == AT_LEAST_ONCE else consume_gets
    return FINISHED if loop(queue, plan, record) else OPERATION_FAILED


def produce(queue: Any, plan: WorkerPlan, record: Recorder) -> bool:
    """Put ``w<process>:<n>`` for n below the quota, at most ``plan.config.rate`` a second; False
    once a put raised."""
    began = time.monotonic()
    for n in range(plan.quota):
        if plan.stop_producing():
            break
        if plan.config.rate is not None:
            time.sleep(max(0.0, began + n / plan.config.rate - time.monotonic()))  # the pace
        value = f"w{plan.process}:{n}"
        if not record("put", lambda v=value: queue.put(v), value)[0] and not plan.keep_going:
            return False
    return True


def consume_gets(queue: Any, plan: WorkerPlan, record: Recorder) -> bool:
    """``get()`` until the producers are done and the queue is empty; False once a get raised."""
    get = waiting(queue.get, plan.config.block)
    return _consume(plan, lambda: record("get", get), lambda _item, _rng: True)


def consume_claims(queue: Any, plan: WorkerPlan, record: Recorder) -> bool:
    """``claim()`` then ``ack()`` (or ``nack()`` for a share of them) until the producers are
    done and nothing is left to claim; False once an operation raised."""

    refused = refused_by(queue)

    def answer_claim(claim: Any, rng: random.Random) -> bool:
        op = "nack" if rng.random() < plan.config.nack_fraction else "ack"
        action = queue.nack if op == "nack" else queue.ack
        return record(op, lambda: answer(action, claim, refused),
                      {"item": claim.item, "id": claim_id(claim)})[0]

    claim = waiting(queue.claim, plan.config.block)
    lease = plan.config.lease
    return _consume(plan, lambda: record("claim", lambda: claim(lease), show=claim_view),
                    answer_claim)


def waiting(take: Callable[..., Any], block: float | None) -> Callable[..., Any]:
    """``take`` waiting up to ``block`` seconds for an item, if it takes a ``timeout``."""
    if block is None or "timeout" not in inspect.signature(take).parameters:
        return take
    return functools.partial(take, timeout=block)


def _consume(plan: WorkerPlan, take: Callable[[], tuple[bool, Any]],
             handle: Callable[[Any, random.Random], bool]) -> bool:
    """``take()`` and ``handle()`` what it took until the producers are done and nothing is
    left; backs off an empty queue; False once an operation raised."""
    rng = random.Random(plan.seed)
    while True:
        producers_done = plan.producers_done()
        ok, taken = take()
        if not ok:
            if plan.keep_going:
                continue
            return False
        if taken is None:
            if producers_done:
                return True
            time.sleep(rng.uniform(0, EMPTY_BACKOFF))  # a back-off, not a synchronisation
        else:
            if plan.config.work:
                time.sleep(plan.config.work)  # the task's work
            if not handle(taken, rng) and not plan.keep_going:
                return False


def read_sizes(queue: Any, plan: WorkerPlan, record: Recorder) -> bool:
    """``size()`` every millisecond until the producers are done; False once it raised."""
    while not plan.producers_done():
        if not record("size", queue.size)[0] and not plan.keep_going:
            return False
        time.sleep(0.001)
    return True


def claim_view(claim: Any) -> dict[str, Any] | None:
    """A claim as the history records it."""
    if claim is None:
        return None
    view = {"item": claim.item, "id": claim_id(claim)}
    for field_name, attribute in (("attempt", "attempt"), ("at", "claimed_at"),
                                  ("until", "until")):
        view[field_name] = getattr(claim, attribute, None)
    return view


def answer(action: Callable[[Any], None], claim: Any,
            refused: tuple[type[BaseException], ...] = (ClaimError,)) -> dict[str, Any]:
    """Ack or nack ``claim``: the history's value, with ``ended`` if the queue refused it
    (raised one of ``refused``: the item was delivered again)."""
    outcome = {"item": claim.item, "id": claim_id(claim)}
    try:
        action(claim)
    except refused:
        outcome["ended"] = True
    return outcome


def claim_id(claim: Any) -> Any:
    """The claim's id, or the item when the queue gives claims none."""
    return getattr(claim, "id", claim.item)


def refused_by(queue: Any) -> tuple[type[BaseException], ...]:
    """The exceptions by which ``queue`` refuses a claim delivered again (its ``refused``)."""
    refused = getattr(queue, "refused", (ClaimError,))
    return tuple(refused) if isinstance(refused, tuple | list) else (refused,)
