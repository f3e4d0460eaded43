"""What the peers' adapters share: a claim as the delivery checker reads it, the options' clock,
and delivery ids where a library gives none."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: worker processes); ``harness stress --redis-server auto|URL`` sets it.
REDIS_URL_ENV = "HARNESS_REDIS_URL"
#: A lease is taken back this long after it ended, so that the client's clock (``until``) and
#: the server's (its idle times) agree on which came first.
TAKE_BACK_MARGIN = 0.05


@dataclass
class PeerClaim:
    """One delivery: the item, an id unique to this delivery, and what the library tells of it.

    ``attempt`` (1 for the first delivery) and ``until`` (when the lease ends, on the options'
    clock) are ``None`` when the library does not know them."""

    item: Any
    id: str
    attempt: int | None
    claimed_at: float
    until: float | None
    handle: Any = None


def clock_of(options: Mapping[str, Any]) -> Callable[[], float]:
    return options.get("clock") or time.time


def shift_of(clock: Callable[[], float]) -> float:
    """How far ``clock`` runs ahead of the wall clock (0 for the wall clock itself)."""
    return max(0.0, clock() - time.time())


_DELIVERIES = itertools.count(1)


def delivery_id(key: Any) -> str:
    """An id for one delivery of ``key`` where the library gives none per delivery."""
    return f"{key}/{os.getpid()}/{next(_DELIVERIES)}"
