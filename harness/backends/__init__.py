"""Queues the harness can stress: the backend protocol (``protocol``), the built-in ones
(``builtin``: this project's queue, the original's, the mutants), adapters for the peers'
libraries (``peers``), and the registry that finds
any of them, or anyone's, by name (``registry``)."""

from __future__ import annotations

from .protocol import (
    BackendFactory,
    QueueBackend,
    capabilities,
    close,
    missing_calls,
)
from .registry import (
    BUILT_IN,
    ENTRY_POINT_GROUP,
    BackendSpec,
    BackendUnavailable,
    UnknownBackend,
    available,
    open_backend,
    resolve,
)

__all__ = [
    "BUILT_IN",
    "ENTRY_POINT_GROUP",
    "BackendFactory",
    "BackendSpec",
    "BackendUnavailable",
    "QueueBackend",
    "UnknownBackend",
    "available",
    "capabilities",
    "close",
    "missing_calls",
    "open_backend",
    "resolve",
]
