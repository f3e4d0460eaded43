"""The physical limits in the same run: flock lock+unlock, and append+fsync of 200 bytes."""

from __future__ import annotations

import fcntl
import os

from .conftest import record

COUNT = 20_000
FSYNCS = 500


def test_flock_lock_unlock(benchmark, tmp_path):
    fd = os.open(tmp_path / "lock", os.O_RDWR | os.O_CREAT)

    def lock_unlock():
        for _ in range(COUNT):
            fcntl.flock(fd, fcntl.LOCK_EX)
            fcntl.flock(fd, fcntl.LOCK_UN)

    benchmark.group = "raw limits"
    benchmark.pedantic(lock_unlock, rounds=3, iterations=1)
    record(benchmark, COUNT, backend="flock lock+unlock", family="raw")
    os.close(fd)


def test_append_and_fsync_200_bytes(benchmark, tmp_path):
    fd = os.open(tmp_path / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    record_bytes = b"x" * 199 + b"\n"

    def append_fsync():
        for _ in range(FSYNCS):
            os.write(fd, record_bytes)
            os.fsync(fd)

    benchmark.group = "raw limits"
    benchmark.pedantic(append_fsync, rounds=3, iterations=1)
    record(benchmark, FSYNCS, backend="append+fsync 200 B", family="raw")
    os.close(fd)
