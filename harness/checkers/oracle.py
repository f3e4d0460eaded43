"""Exhaustive searches that decide small histories exactly: the checkers' references.

Exponential: for histories of a dozen operations or so, in tests. They know nothing of the
checkers' rules; they try every order of the operations that respects real time (``a`` before
``b`` when ``a`` returned before ``b`` was called) against a sequential model of the queue.
An ``info`` operation (its process died, or the queue said it may have happened) may or may
not have happened; a ``fail`` operation (it raised) did not happen.

- ``linearizable``: a FIFO queue of ``put`` and ``get`` (and the drain's ``drained`` mark: the
  queue was empty at some instant of it).
- ``delivers_at_least_once``: an at-least-once queue of ``put``, ``claim``, ``ack`` and ``nack``
  with leases (``harness.checkers.delivery``'s model, written from the queue's contract).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from functools import cache
from typing import Any

#: One operation applied to a state: the states it may lead to (none: it cannot happen here).
Step = Callable[[dict[str, Any], Any], list[Any]]


def search(history: list[dict[str, Any]], ops: list[dict[str, Any]], initial: Hashable,
           step: Step, final: Callable[[Any], bool] = lambda state: True) -> bool:
    """True when some real-time-respecting order of ``ops`` (the ``info`` ones optional)
    leads from ``initial`` through ``step`` to a state ``final`` accepts."""
    calls = [op["call"] for op in ops]
    returns = [op["return"] if op["type"] == "ok" else math.inf for op in ops]
    optional = [op["type"] != "ok" for op in ops]
    n = len(ops)
    everything = (1 << n) - 1

    @cache
    def explore(done: int, state: Hashable) -> bool:
        if done == everything:
            return final(state)
        pending = [i for i in range(n) if not done >> i & 1]
        earliest_return = min(returns[i] for i in pending)
        for i in pending:
            if calls[i] > earliest_return:
                continue  # some pending operation returned before this one was called
            after = done | 1 << i
            if optional[i] and explore(after, state):
                return True
            if any(explore(after, following) for following in step(ops[i], state)):
                return True
        return False

    return explore(0, initial)


def happened(history: list[dict[str, Any]], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """The operations named ``names`` that may have happened (not those that raised)."""
    return [op for op in history if op["op"] in names and op["type"] != "fail"]


def linearizable(history: list[dict[str, Any]]) -> bool:
    """True when some real-time-respecting order of the operations is a correct FIFO run.

    An uncertain get that happened took the head (or found the queue empty)."""

    def step(op: dict[str, Any], queue: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if op["op"] == "put":
            return [(*queue, op["value"])]
        if op["op"] == "drained":
            return [] if queue else [queue]
        if op["type"] != "ok":
            return [queue[1:]]
        if op["value"] is None:
            return [] if queue else [queue]
        return [queue[1:]] if queue and queue[0] == op["value"] else []

    return search(history, happened(history, ("put", "get", "drained")), (), step)


#: An item's state in the at-least-once model: its status (``ready``, ``held``, ``acked``,
#: ``dead``), the number of its last delivery and that delivery's id (None: made by a claim
#: killed in flight), its lease's end on the queue's clock (None: no lease) and its holder.
ItemState = tuple[Any, str, int, Any, Any, Any]


def delivers_at_least_once(history: list[dict[str, Any]]) -> bool:
    """True when some real-time-respecting order of the operations is a correct run of an
    at-least-once queue: a claim returns an item that was put and is ready (never delivered,
    given back by a nack, its last lease over by the claim's ``at``, or, without a lease, its
    holder killed), as its next delivery; an ack or nack is accepted when it names the item's
    current delivery, still held, and refused (``ended``) only when the item was delivered
    again, or acked, given back or dead-lettered already; an acked or dead item is never
    delivered again; the drain's ``drained`` mark means nothing was left; every delivery has
    an id of its own. A claim may return nothing at any time (whether it should have is not
    this model's question)."""
    ids = [str(op["value"]["id"]) for op in history
           if op["op"] == "claim" and op["type"] == "ok" and op["value"] is not None]
    if len(ids) != len(set(ids)):
        return False
    ops = happened(history, ("put", "claim", "ack", "nack", "killed", "dead", "drained"))
    return search(history, ops, ((), frozenset()), _at_least_once_step)


def _at_least_once_step(op: dict[str, Any],
                        state: tuple[tuple[ItemState, ...], frozenset]) -> list[Any]:
    items, killed = {entry[0]: entry for entry in state[0]}, state[1]
    name, value = op["op"], op["value"]

    def to(*changes: ItemState, dead_process: Any = None) -> Any:
        changed = {**items, **{entry[0]: entry for entry in changes}}
        processes = killed if dead_process is None else killed | {dead_process}
        return (tuple(sorted(changed.values(), key=lambda e: str(e[0]))), processes)

    if name == "put":
        return [] if value in items else [to((value, "ready", 0, None, None, None))]
    if name == "killed":
        return [to(dead_process=op["process"])]
    if name == "drained":
        return [to()] if all(e[1] in ("acked", "dead") for e in items.values()) else []
    if name == "dead":
        taken = [items.get(x) for x in value]
        if any(e is None or e[1] == "acked" for e in taken):
            return []
        return [to(*((e[0], "dead", *e[2:]) for e in taken))]
    if name == "claim":
        return _claimed(op, items, killed, to)
    return _answered(op, items, to)


def _claimed(op: dict[str, Any], items: dict[Any, ItemState], killed: frozenset,
             to: Callable[..., Any]) -> list[Any]:
    """What a claim may have done: taken the item it returned, or (killed in flight) any."""
    value = op["value"]
    if op["type"] != "ok":  # killed in flight: it may have delivered any item it could take
        return [to((x, "ready", n + 1, None, None, None))
                for x, status, n, _, until, holder in items.values()
                if status == "ready" or (status == "held" and (
                    until is not None or holder in killed))]
    if value is None:
        return [to()]
    entry = items.get(value["item"])
    if entry is None:
        return []
    x, status, number, _, until, holder = entry
    expired = (until is not None and value["at"] >= until) or (
        until is None and holder in killed)
    attempt = value.get("attempt")
    if not (status == "ready" or (status == "held" and expired)) or (
            attempt is not None and attempt != number + 1):
        return []
    return [to((x, "held", number + 1, str(value["id"]), value.get("until"), op["process"]))]


def _answered(op: dict[str, Any], items: dict[Any, ItemState],
              to: Callable[..., Any]) -> list[Any]:
    """What an ack or a nack may have done: accepted (it names the current delivery, still
    held) or refused (that delivery ended)."""
    value = op["value"]
    entry = items.get(value["item"])
    if entry is None:
        return [] if op["type"] == "ok" else [to()]
    x, status, number, current, until, holder = entry
    named = str(value["id"])
    held = status == "held" and current == named
    ended = current != named or status in ("acked", "dead") or status == "ready"
    accepted = ([to((x, "acked" if op["op"] == "ack" else "ready", number, current, until,
                     holder))] if held else [])
    refused = [to()] if ended else []
    if op["type"] != "ok":
        return accepted + refused
    return refused if value.get("ended") else accepted
