"""Redis: a list (``RPUSH``/``LPOP``), and a stream read by one consumer group."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ...errors import ClaimEnded
from ..protocol import QueueBackend
from .common import TAKE_BACK_MARGIN, PeerClaim, clock_of, shift_of

#: Environment variable holding the Redis URL the redis-* backends talk to (inherited by the
#: worker processes); ``harness stress --redis-server auto|URL`` sets it.
REDIS_URL_ENV = "HARNESS_REDIS_URL"


def _redis(directory: Path) -> tuple[Any, str]:
    """A client of the server named by ``HARNESS_REDIS_URL``, and this run's key."""
    import redis

    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        raise RuntimeError(f"no Redis server: pass --redis-server auto (or a URL), or set "
                           f"{REDIS_URL_ENV}")
    return redis.Redis.from_url(url), f"harness:{directory}"


class RedisList:
    """A Redis list: ``RPUSH`` / ``LPOP`` / ``LLEN``."""

    def __init__(self, client: Any, key: str) -> None:
        self.client, self.key = client, key

    def put(self, item: Any) -> None:
        self.client.rpush(self.key, json.dumps(item))

    def get(self) -> Any | None:
        data = self.client.lpop(self.key)
        return None if data is None else json.loads(data)

    def size(self) -> int:
        return self.client.llen(self.key)

    def close(self) -> None:
        self.client.close()


def redis_list(directory: Path, *, fsync: bool, options: Mapping[str, Any]) -> QueueBackend:
    return RedisList(*_redis(directory))


class RedisStream:
    """A Redis stream read by one consumer group: ``XADD``; claim = ``XAUTOCLAIM`` of an
    expired lease, else ``XREADGROUP``; ack = ``XACK`` + ``XDEL``; nack = ``XCLAIM`` that makes
    the entry look expired after ``delay``."""

    GROUP = "harness"
    refused = (ClaimEnded,)

    def __init__(self, client: Any, key: str, clock: Callable[[], float]) -> None:
        import redis

        self.client, self.key, self.clock = client, key, clock
        self.consumer = f"consumer-{os.getpid()}"
        with contextlib.suppress(redis.ResponseError):  # BUSYGROUP: another process made it
            client.xgroup_create(key, self.GROUP, id="0", mkstream=True)

    def put(self, item: Any) -> None:
        self.client.xadd(self.key, {"item": json.dumps(item)})

    def get(self) -> Any | None:
        claim = self._read(0.0, self.clock())
        if claim is None:
            return None
        self.ack(claim)
        return claim.item

    def size(self) -> int:
        return self.client.xlen(self.key)

    def claim(self, lease: float) -> PeerClaim | None:
        at = self.clock()
        idle = max(0.0, lease + TAKE_BACK_MARGIN - shift_of(self.clock))
        _, taken, *_ = self.client.xautoclaim(self.key, self.GROUP, self.consumer,
                                              int(idle * 1000), "0-0", count=1)
        for entry_id, fields in taken:
            if fields:
                pending = self.client.xpending_range(self.key, self.GROUP, entry_id, entry_id, 1)
                attempt = pending[0]["times_delivered"] if pending else None
                return self._claim(entry_id, fields, attempt, at, lease)
        return self._read(lease, at)

    def _read(self, lease: float, at: float) -> PeerClaim | None:
        answer = self.client.xreadgroup(self.GROUP, self.consumer, {self.key: ">"}, count=1)
        for _, entries in answer or ():
            for entry_id, fields in entries:
                return self._claim(entry_id, fields, 1, at, lease)
        return None

    def _claim(self, entry_id: Any, fields: Mapping[bytes, bytes], attempt: int | None,
               at: float, lease: float) -> PeerClaim:
        entry = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        return PeerClaim(json.loads(fields[b"item"]), f"{entry}.{attempt}", attempt, at, at + lease,
                     entry)

    def ack(self, claim: PeerClaim) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.key, self.GROUP, claim.handle)
        pipe.xdel(self.key, claim.handle)
        acked, _ = pipe.execute()
        if not acked:
            raise ClaimEnded(f"{claim.id} is no longer pending")

    def nack(self, claim: PeerClaim, delay: float = 0.0) -> None:
        pending = self.client.xpending_range(self.key, self.GROUP, claim.handle, claim.handle, 1)
        if not pending or pending[0]["consumer"].decode() != self.consumer or (
                pending[0]["times_delivered"] != claim.attempt):
            raise ClaimEnded(f"{claim.id} is no longer held by {self.consumer}")
        idle_ms = int((claim.until - claim.claimed_at + TAKE_BACK_MARGIN) * 1000
                      - delay * 1000)
        self.client.xclaim(self.key, self.GROUP, self.consumer, 0, [claim.handle],
                           idle=max(0, idle_ms), justid=True)

    def close(self) -> None:
        self.client.close()


def redis_stream(directory: Path, *, fsync: bool, options: Mapping[str, Any]) -> QueueBackend:
    return RedisStream(*_redis(directory), clock_of(options))
