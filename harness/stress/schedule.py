"""The schedule of a stress run, the same wherever its workers run: every random choice seeded
by the run's seed alone (kill times, the slot each kill draws, the workers' own seeds), the
producers' quotas, and when the next kill is due."""

from __future__ import annotations

import hashlib
import random
import time
from typing import Protocol, TypeVar


class Slotted(Protocol):
    """A worker as the schedule sees it: its role and its slot among its role."""

    role: str
    slot: int


W = TypeVar("W", bound=Slotted)


class Choices:
    """Every random choice of the harness, from generators seeded by the run's seed alone, so
    that two runs with one seed make the same choices: the kills' times as offsets from the
    start, the slot each kill draws, and every worker's own seed. (Which worker a kill hits can
    still differ: a drawn slot whose worker has finished passes the kill to the next slot.)"""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._gaps = random.Random(f"{seed}:kill-gaps")
        self._victims = random.Random(f"{seed}:victims")

    def kill_gap(self, mean: float) -> float:
        """Seconds from one kill to the next: uniform between half and 1.5 times ``mean``."""
        return self._gaps.uniform(0.5, 1.5) * mean

    def victim(self, slots: list[tuple[str, int]], alive: list[W]
               ) -> tuple[tuple[str, int], W | None]:
        """The slot drawn among every ``(role, slot)`` of the run, and the worker to kill: the
        one in that slot, or in the next slot (in order) that still has one; None if none."""
        ordered = sorted(slots)
        drawn = self._victims.randrange(len(ordered))
        by_slot = {(w.role, w.slot): w for w in alive}
        for step in range(len(ordered)):
            worker = by_slot.get(ordered[(drawn + step) % len(ordered)])
            if worker is not None:
                return ordered[drawn], worker
        return ordered[drawn], None

    def worker_seed(self, role: str, slot: int, generation: int) -> int:
        """The seed of the ``generation``-th worker of ``role`` in ``slot`` (0 for the first)."""
        text = f"{self.seed}:{role}:{slot}:{generation}".encode()
        return int.from_bytes(hashlib.sha256(text).digest()[:4], "big")


def split_quota(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal whole shares, larger ones first."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def next_kill_after(scheduled: float, gap: float) -> float:
    """When the kill after one planned at ``scheduled`` is due: ``gap`` seconds after it, or
    after now if killing took longer than planned (a container's kill is an ``exec``), so
    that kills never come back to back."""
    return max(scheduled, time.monotonic()) + gap
