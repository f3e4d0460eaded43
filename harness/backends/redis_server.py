"""A ``redis-server`` of the harness's own on a free loopback port, for the redis-* backends.

``redis_for(choice)`` gives the URL the backends use (in ``HARNESS_REDIS_URL``, which the worker
processes inherit): ``auto`` starts a server for the duration (no persistence, loopback only)
and stops it after; a URL is used as it is; ``None`` leaves things as they are.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

from ..errors import RedisServerError
from .peers.redis import REDIS_URL_ENV

#: Seconds a new server gets to answer PING.
START_TIMEOUT = 20.0


def redis_server_binary() -> str | None:
    """The path of ``redis-server``, or None."""
    return shutil.which("redis-server")


def missing_reason() -> str | None:
    """Why ``--redis-server auto`` cannot work here, in one line, or None."""
    if redis_server_binary() is None:
        return "redis-server is not installed: apt-get install -y redis-server"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A new ``redis-server`` on a free loopback port, without persistence; its URL.
    Stopped (and waited for) on exit."""
    binary = redis_server_binary()
    if binary is None:
        raise RedisServerError(missing_reason())
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(port):
            if server.poll() is not None:
                raise RedisServerError(f"redis-server exited with code {server.returncode}")
            if time.monotonic() > deadline:
                raise RedisServerError(f"redis-server did not answer within {START_TIMEOUT:g} s")
            time.sleep(0.05)  # polling a starting server: it announces readiness nowhere else
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextlib.contextmanager
def redis_for(choice: str | None) -> Iterator[str | None]:
    """Set ``HARNESS_REDIS_URL`` for the duration: a new server for ``auto``, ``choice`` if it
    is a URL; unchanged for None. Yields the URL in force (or None)."""
    if choice is None:
        yield os.environ.get(REDIS_URL_ENV)
        return
    previous = os.environ.get(REDIS_URL_ENV)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(redis_server()) if choice == "auto" else choice
        os.environ[REDIS_URL_ENV] = url
        try:
            yield url
        finally:
            if previous is None:
                os.environ.pop(REDIS_URL_ENV, None)
            else:
                os.environ[REDIS_URL_ENV] = previous


def add_redis_option(parser: argparse.ArgumentParser) -> None:
    """``--redis-server auto|URL``: the server of the redis-* backends."""
    parser.add_argument("--redis-server", default=None, metavar="auto|URL",
                        help="the Redis server of the redis-list and redis-stream backends: "
                        "'auto' starts a redis-server on a free loopback port for the run, or "
                        "give a URL such as redis://127.0.0.1:6379/0")
