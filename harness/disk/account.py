"""What a queue must hold after several runs of scripts on it, each maybe stopped: the items in
put order, those certainly there, those consumed, and those a stopped or uncertain operation
may have changed; and what the runs' own answers broke on the way (a get that returned an item
consumed already, or one younger than an item that waited).

The expectation of a single stopped run is ``workloads.expect``; this one follows a sequence:
a first run stopped (by a crash, a power loss), then a recovery run on what it left, itself
stopped in its turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .workloads import Expectation, Step


@dataclass
class Outcome:
    """What the steps of one run did, as far as it is known: the value each returned step
    returned, the steps that raised (with whether the queue said they may have happened),
    and the step in flight when the run stopped."""

    returned: dict[int, Any] = field(default_factory=dict)
    raised: dict[int, bool] = field(default_factory=dict)
    in_flight: int | None = None

    def maybe(self, index: int) -> bool:
        """True when step ``index`` may or may not have happened."""
        return index == self.in_flight or self.raised.get(index, False)


class Account:
    """The items of a queue across runs, and the problems the runs' answers show."""

    def __init__(self) -> None:
        self.exp = Expectation()
        self.held: set[Any] = set()
        self.problems: list[str] = []

    def copy(self) -> Account:
        """An account to go on from, this one unchanged."""
        other = Account()
        exp = self.exp
        other.exp = Expectation(dict(exp.order), set(exp.required), set(exp.consumed),
                                set(exp.may_be_present), set(exp.may_be_gone))
        other.held, other.problems = set(self.held), list(self.problems)
        return other

    def leases_over(self) -> None:
        """Every lease has ended: claimed items are back at their place (a later run's
        clock is past them)."""
        self.held.clear()

    def replay(self, steps: Sequence[Step], outcome: Outcome, label: str,
               known: Sequence[Any] | None = None) -> None:
        """Take in one run of ``steps``: what returned happened, what was in flight or raised
        saying it may have happened may have; ``known`` gives what a step in flight would
        have taken (the first run is deterministic), else it may have taken the oldest."""
        claims: dict[str, Any] = {}
        for index, step in enumerate(steps):
            if index in outcome.returned:
                self._happened(step, outcome.returned[index], claims, f"{label} step {index}")
            elif outcome.maybe(index):
                value = None if known is None else known[index]
                self._maybe(step, value, claims)

    def _happened(self, step: Step, value: Any, claims: dict[str, Any], where: str) -> None:
        exp = self.exp
        if step.op == "put":
            exp.order[value] = len(exp.order)
            exp.required.add(value)
        elif step.op == "get" and value is not None:
            self._took(value, where)
        elif step.op == "claim":
            claims[step.arg] = value
            if value is not None:
                self._check_new(value, where)
                self.held.add(value)
        elif step.op == "ack" and claims.get(step.arg) is not None:
            item = claims[step.arg]
            exp.required.discard(item)
            exp.consumed.add(item)
            self.held.discard(item)
        elif step.op == "nack" and claims.get(step.arg) is not None:
            self.held.discard(claims[step.arg])

    def _maybe(self, step: Step, value: Any, claims: dict[str, Any]) -> None:
        exp = self.exp
        if step.op == "put":
            exp.order[step.arg] = len(exp.order)
            exp.may_be_present.add(step.arg)
        elif step.op == "get":
            exp.may_be_gone.update([value] if value is not None else self._heads())
        elif step.op == "ack" and claims.get(step.arg) is not None:
            exp.may_be_gone.add(claims[step.arg])

    def _heads(self) -> list[Any]:
        """Every item a get could take now: the oldest waiting, whichever of the uncertain
        ones (maybe put, maybe taken already) are there."""
        exp = self.exp
        waiting = sorted((x for x in {*exp.required, *exp.may_be_present}
                          if x not in self.held and x not in exp.consumed), key=exp.order.get)
        heads = []
        for item in waiting:
            heads.append(item)
            if item in exp.required and item not in exp.may_be_gone:
                break  # certainly there: nothing younger can be the head
        return heads

    def _check_new(self, value: Any, where: str) -> None:
        exp = self.exp
        if value in exp.consumed:
            self.problems.append(f"{where} returned {value!r} again, after its get or ack "
                                 "returned")
        elif value not in exp.order:
            self.problems.append(f"{where} returned {value!r}, which was never put")

    def _took(self, value: Any, where: str) -> None:
        exp = self.exp
        self._check_new(value, where)
        rank = exp.order.get(value)
        older = sorted((x for x in exp.required if rank is not None and exp.order[x] < rank
                        and x not in self.held and x not in exp.may_be_gone),
                       key=exp.order.get)
        if older:
            self.problems.append(f"{where} returned {value!r} while the older {older[0]!r} "
                                 "waited")
        exp.required.discard(value)
        exp.may_be_present.discard(value)
        exp.consumed.add(value)
