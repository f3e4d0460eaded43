"""Commits held back: one queue object's operations write their changes under the lock, but
their syncs (the part after the lock, ``commit``) wait until the test says, as in another
process that is still inside its commit, or that a power loss stopped there."""

from __future__ import annotations

import os


class HeldCommits:
    """Holds back ``queue``'s commits from now on: ``release()`` runs them, ``drop()`` forgets
    them (the process died)."""

    def __init__(self, queue, monkeypatch) -> None:
        self.queue = queue
        self.tickets: list = []
        storage = queue._storage
        self._commit = storage.commit
        monkeypatch.setattr(storage, "commit", self._hold)

    def _hold(self) -> None:
        self.tickets += self.queue._storage._take_waiting()

    def release(self) -> None:
        """Run the held commits (``StorageError`` as the operation would raise it)."""
        self.queue._storage._waiting.tickets = self.tickets
        self.tickets = []
        self._commit()

    def drop(self) -> None:
        """The process died in its commits: their descriptors go, nothing is synced."""
        for ticket in self.tickets:
            os.close(ticket.fd)
        self.tickets = []
