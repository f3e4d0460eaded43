"""The environment that describes the machine a test runs on, for tests that start a process
with a bare environment of their own (a container's, a stock interpreter's): the search path,
and what the clock-shifted run (.ci/shifted-clocks) gives every process: a preloaded library
and its shift, the time zone, the locale."""

import os

MACHINE = ("PATH", "LD_PRELOAD", "CLOCK_SHIFT_SECONDS", "TZ", "LC_ALL", "LANG")


def machine_environment() -> dict[str, str]:
    """Those of ``MACHINE`` this process has."""
    return {name: os.environ[name] for name in MACHINE if name in os.environ}
