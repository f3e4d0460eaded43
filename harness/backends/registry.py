"""Backends by name: built-in names, ``module:factory`` (importable from the current directory
or ``sys.path``), and the entry points of the group ``filequeue_harness.backends`` of any
installed package."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import BackendUnavailable, UnknownBackend
from .builtin import MUTANTS, PRODUCT, STORAGE_MUTANTS
from .peers import PEERS, Peer
from .protocol import BackendFactory, QueueBackend, capabilities, close, missing_calls

ENTRY_POINT_GROUP = "filequeue_harness.backends"


@dataclass(frozen=True)
class BackendSpec:
    """A backend the harness can open: its name, its factory, and where it comes from."""

    name: str
    factory: BackendFactory
    origin: str
    about: str = ""
    #: A peer's library (``harness.backends.peers``): what it needs, what it says.
    peer: Peer | None = None

    def missing(self) -> str | None:
        """Why this backend cannot be opened here, in one line (``not installed: pip install
        X``), or None."""
        return None if self.peer is None else self.peer.missing()

    def open(self, directory: Path, fsync: bool = False, **options: Any) -> QueueBackend:
        """The backend on ``directory`` (a worker's own connection to the run's queue);
        ``BackendUnavailable`` with the reason if its library is missing."""
        reason = self.missing()
        if reason is not None:
            raise BackendUnavailable(f"backend {self.name}: {reason}")
        return self.factory(directory, fsync=fsync, options=options)

    def probe(self, fsync: bool = False) -> list[str]:
        """What the backend can do, from an instance opened on a throwaway directory."""
        return self._inspect(capabilities, fsync)

    def refuse_unless(self, delivery: str, fsync: bool = False) -> None:
        """``ValueError`` naming what is missing if the backend cannot do ``delivery``."""
        missing = self._inspect(lambda backend: missing_calls(backend, delivery), fsync)
        if missing:
            raise ValueError(f"backend {self.name} has no {'/'.join(missing)}: it cannot do "
                             f"{delivery} delivery")


    def _inspect(self, look: Callable[[QueueBackend], Any], fsync: bool) -> Any:
        """``look(backend)`` on an instance opened on a throwaway directory, then closed."""
        directory = Path(tempfile.mkdtemp(prefix="harness-probe-"))
        try:
            backend = self.open(directory, fsync)
            try:
                return look(backend)
            finally:
                close(backend)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


BUILT_IN: dict[str, BackendSpec] = {
    name: BackendSpec(name, factory, "built-in", about)
    for name, (factory, about) in {**PRODUCT, **MUTANTS, **STORAGE_MUTANTS}.items()
}
BUILT_IN.update({name: BackendSpec(name, peer.factory, "built-in peer adapter", peer.about, peer)
                 for name, peer in PEERS.items()})


def resolve(name: str) -> BackendSpec:
    """The backend called ``name``; ``UnknownBackend`` says what the known ones are."""
    if name in BUILT_IN:
        return BUILT_IN[name]
    if ":" in name:
        return _from_module(name)
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            return BackendSpec(name, _factory(entry.load(), name),
                               f"entry point of {_distribution(entry)}")
    raise UnknownBackend(f"unknown backend {name!r}: not built in ({', '.join(BUILT_IN)}), "
                         f"not MODULE:FACTORY, and no installed package names it in the "
                         f"entry point group {ENTRY_POINT_GROUP}")


def available() -> list[BackendSpec]:
    """Every built-in backend and every one an installed package offers."""
    found = list(BUILT_IN.values())
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            found.append(BackendSpec(entry.name, _factory(entry.load(), entry.name),
                                     f"entry point of {_distribution(entry)}"))
        except Exception as error:  # a broken plugin is listed, not fatal
            found.append(BackendSpec(entry.name, _broken(error), f"entry point of "
                                     f"{_distribution(entry)}", f"cannot load: {error}"))
    return found


def open_backend(name: str, directory: Path, fsync: bool = False,
                 **options: Any) -> QueueBackend:
    """Open the backend ``name`` on ``directory``."""
    return resolve(name).open(directory, fsync, **options)


def _from_module(name: str) -> BackendSpec:
    module_name, _, attribute = name.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # a module beside the user, as `python -m` finds it
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UnknownBackend(f"backend {name!r}: cannot import {module_name}: {error}") from error
    target: Any = module
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise UnknownBackend(f"backend {name!r}: {module_name} has no {attribute}")
    return BackendSpec(name, _factory(target, name), f"module {module_name}")


def _factory(target: Any, name: str) -> BackendFactory:
    if not callable(target):
        raise UnknownBackend(f"backend {name!r} is not callable: it must open a queue as "
                             "factory(directory, *, fsync, options)")
    return target


def _broken(error: Exception) -> BackendFactory:
    def cannot_open(directory: Path, *, fsync: bool,
                    options: Mapping[str, Any]) -> QueueBackend:
        raise UnknownBackend(str(error))
    return cannot_open


def _distribution(entry: metadata.EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else entry.value
