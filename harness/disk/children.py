"""A child process for one run of a storage check: forked, ended by ``os._exit``, so that a
stop at any instant is what a SIGKILL would leave, and nothing of the run leaks into the
harness."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


def fork_child(child: Callable[[], int]) -> int:
    """Run ``child()`` in a forked process that ends with its result; the exit status."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            code = child()
        except BaseException:
            code = 71
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
