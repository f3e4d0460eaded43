"""Other users sharing a queue: work done in a forked child that switched to another user id
(root only), in a directory that a group shares as a Pod's ``fsGroup`` makes it."""

from __future__ import annotations

# The child, as another user, may not read the interpreter's own files: what it decodes
# with is imported now.
import encodings.ascii
import encodings.latin_1  # noqa: F401
import json
import os
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

GROUP = 2000
USER_A, USER_B = 1001, 1002

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")


def as_user(uid: int, umask: int, work: Callable[[], Any], *, gid: int = GROUP) -> str:
    """``repr(work())`` from a forked child running as ``uid`` (group ``gid``) with ``umask``;
    ``AssertionError`` with the child's exception if it raised."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        try:
            os.setgroups([gid])
            os.setgid(gid)
            os.setuid(uid)
            os.umask(umask)
            result = {"ok": True, "value": repr(work())}
        except BaseException as error:
            result = {"ok": False, "error": f"{type(error).__name__}: {error}",
                      "trace": traceback.format_exc()}
        os.write(write_end, json.dumps(result).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        result = json.loads(pipe.read())
    os.waitpid(pid, 0)
    if not result["ok"]:
        raise AssertionError(f"as uid {uid} (umask {umask:03o}): {result['error']}")
    return result["value"]


@contextmanager
def shared_directory() -> Iterator[Path]:
    """A new directory, mode 2775 and group ``GROUP`` (set-group-id: new files take its group,
    as in an ``fsGroup`` volume), that users A and B can reach; removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="shared-by-users-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        directory = base / "queue"
        directory.mkdir()
        os.chown(directory, 0, GROUP)
        os.chmod(directory, 0o2775)
        yield directory
    finally:
        shutil.rmtree(base)
