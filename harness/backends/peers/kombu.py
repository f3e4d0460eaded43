"""kombu's ``SimpleQueue`` on the ``filesystem://`` transport (what Celery users test with)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..protocol import QueueBackend


class KombuSimpleQueue:
    """kombu's ``SimpleQueue`` on the ``filesystem://`` transport: ``put``; ``get(block=False)``
    then ``ack()``; ``qsize()``."""

    def __init__(self, connection: Any, queue: Any) -> None:
        self.connection, self.queue = connection, queue

    def put(self, item: Any) -> None:
        self.queue.put(item)

    def get(self) -> Any | None:
        try:
            message = self.queue.get(block=False)
        except self.queue.Empty:
            return None
        message.ack()
        return message.payload

    def size(self) -> int:
        return self.queue.qsize()

    def close(self) -> None:
        self.queue.close()
        self.connection.release()


def kombu_filesystem(directory: Path, *, fsync: bool,
                     options: Mapping[str, Any]) -> QueueBackend:
    from kombu import Connection

    folder = directory / "kombu"
    folder.mkdir(exist_ok=True)
    connection = Connection("filesystem://", transport_options={
        "data_folder_in": str(folder), "data_folder_out": str(folder),
        "control_folder": str(directory / "kombu-control")})
    # A name of its own per folder: a process that declared a queue of the same name on
    # another folder (the harness's probe) would otherwise route every put to that folder's
    # bindings, and the items would vanish.
    name = "harness-" + hashlib.sha1(str(directory).encode()).hexdigest()[:16]
    return KombuSimpleQueue(connection, connection.SimpleQueue(name))
