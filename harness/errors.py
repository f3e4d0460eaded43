"""Every error the harness raises, under one root: ``HarnessError``.

None of them is a verdict on a queue: a violation is a result, never an exception. Each says
what could not be done and why, in one line a command can print as it is. Standard library
only: the worker in a container raises some of them.
"""

from __future__ import annotations


class HarnessError(Exception):
    """The harness could not do what it was asked (the message says what and why)."""


class UsageError(HarnessError):
    """A flag or a path that cannot work: the command ends with this one line and exit code 2."""


class HistoryError(HarnessError, ValueError):
    """A history that does not follow the format, breaks an assumption of the checkers (put
    values must be unique), or whose file is damaged; says where and why."""


class HistoryUnwritable(HarnessError):
    """A history file did not take a whole report (a full disk, a failing one): the file ends
    there, and the process must stop, since what it does next would go unrecorded."""


class UnknownBackend(HarnessError, ValueError):
    """A backend name that is neither built in, ``module:factory``, nor an entry point."""


class BackendUnavailable(HarnessError):
    """A known backend that cannot be opened here (its library is not installed)."""


class ClaimEnded(HarnessError):
    """A peer's library says a claim is no longer held: its item was delivered again (the
    adapters' refusal of a stale ack, nack or extend)."""


class RedisServerError(HarnessError):
    """The harness's own Redis server could not be started (no binary, or it did not answer)."""


class PlatformError(HarnessError):
    """A container platform refused or failed a step (its tool's message says why)."""


class CrashpointsError(HarnessError):
    """A storage exploration could not run (not a verdict on the queue)."""
