"""An exhaustive linearizability search for small queue histories: the checker's reference.

Exponential: for histories of a dozen operations or so, in tests. It knows nothing of the
checker's patterns; it tries every order of the operations that respects real time
(``a`` before ``b`` when ``a`` returned before ``b`` was called) against a sequential FIFO queue.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any


def linearizable(history: list[dict[str, Any]]) -> bool:
    """True when some real-time-respecting order of the operations is a correct FIFO run.

    ``info`` and ``fail`` operations may or may not have happened, and have no return time;
    an uncertain get that happened took the head (or found the queue empty).
    """
    ops = [op for op in history if op["op"] in ("put", "get")]
    calls = [op["call"] for op in ops]
    returns = [op["return"] if op["type"] == "ok" else math.inf for op in ops]
    optional = [op["type"] != "ok" for op in ops]
    n = len(ops)
    everything = (1 << n) - 1

    @cache
    def search(done: int, queue: tuple[Any, ...]) -> bool:
        if done == everything:
            return True
        pending = [i for i in range(n) if not done >> i & 1]
        earliest_return = min(returns[i] for i in pending)
        for i in pending:
            if calls[i] > earliest_return:
                continue  # some pending operation returned before this one was called
            after = done | 1 << i
            if optional[i] and search(after, queue):
                return True
            op = ops[i]
            if op["op"] == "put":
                if search(after, (*queue, op["value"])):
                    return True
            elif optional[i]:
                if queue and search(after, queue[1:]):
                    return True
            elif op["value"] is None:
                if not queue and search(after, queue):
                    return True
            elif queue and queue[0] == op["value"] and search(after, queue[1:]):
                return True
        return False

    return search(0, ())
