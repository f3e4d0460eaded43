"""Waiting for what another process does, with a deadline."""

import time


def wait_for(condition, timeout, what):
    """Return once ``condition()`` is true; ``AssertionError`` naming ``what`` after
    ``timeout`` seconds (another process's progress shows only in files: nothing to block on)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
