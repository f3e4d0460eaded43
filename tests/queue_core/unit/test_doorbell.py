"""The doorbell on its own: rings counted through the FIFO, a full pipe, the bounded wait, and
the fallbacks when no FIFO can be used (every call best effort, never raising)."""

import contextlib
import fcntl
import os
import select
import stat

import pytest

from queue_core import doorbell
from queue_core.doorbell import Doorbell


@pytest.fixture(autouse=True)
def bells(tmp_path, monkeypatch):
    """The FIFOs go in a directory of the test's own."""
    monkeypatch.setattr(doorbell, "BELL_DIRECTORY", tmp_path)
    return tmp_path


@pytest.fixture
def pair():
    """Two processes' handles on the same queue's doorbell."""
    a, b = Doorbell("7:42"), Doorbell("7:42")
    yield a, b
    a.close()
    b.close()


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


def test_the_fifo_is_named_after_the_identity_and_readable_by_every_user(bells):
    bell = Doorbell("2049:1234")
    assert bell.path == bells / "filequeue-2049-1234.bell"
    old_umask = os.umask(0)
    try:
        bell.ring()
    finally:
        os.umask(old_umask)
    mode = bell.path.stat().st_mode
    assert stat.S_ISFIFO(mode)
    assert stat.S_IMODE(mode) == 0o666
    bell.close()


def test_rings_are_counted_by_the_other_handle(pair):
    a, b = pair
    assert b.drain() == 0
    a.ring()
    assert b.drain() == 1
    a.ring(3)
    a.ring(2)
    assert b.drain() == 5
    assert b.drain() == 0, "drained: the rings so far are forgotten"


def test_a_fresh_handle_drains_what_another_rang(pair):
    a, b = pair
    a.ring(4)
    assert b.drain() == 4


def test_drain_counts_more_rings_than_one_read_returns(pair):
    a, b = pair
    a.ring()
    fcntl.fcntl(a._fd, fcntl.F_SETPIPE_SZ, 1 << 18)
    a.ring(70_000 - 1)
    assert b.drain() == 70_000


def test_handles_keep_their_descriptor(pair):
    a, b = pair
    before = None
    for _ in range(5):
        a.ring()
        b.drain()
        b.wait(0)
        before = before or open_descriptors()
    assert open_descriptors() == before
    a.close()
    b.close()
    assert a._fd is None and b._fd is None


@pytest.mark.parametrize("rings, passed_on", [(0, 0), (1, 0), (2, 1), (3, 2), (65, 64),
                                              (1000, 64)])
def test_a_waiter_passes_on_the_rings_for_the_other_puts(pair, rings, passed_on):
    a, b = pair
    a.pass_on(rings)
    assert b.drain() == passed_on


def test_a_ring_on_a_full_pipe_empties_it_keeping_one_ring(pair, bells):
    a, b = pair
    a.ring()
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(a._fd, b"\1" * 4096)
    a.ring()
    assert b.drain() == 1
    a.ring()
    assert b.drain() == 1, "the next rings are plain writes again"


def test_a_ring_on_a_full_pipe_that_another_emptied_meanwhile_does_not_raise(pair,
                                                                             monkeypatch):
    a, _ = pair
    a.ring()
    real_write = os.write
    writes = []

    def full(fd, data):
        writes.append(data)
        if len(writes) == 1:
            raise BlockingIOError
        return real_write(fd, data)

    monkeypatch.setattr(os, "read", lambda fd, size: (_ for _ in ()).throw(BlockingIOError()))
    monkeypatch.setattr(os, "write", full)
    a.ring()
    assert writes == [b"\1"]


class _Poll:
    """``select.poll`` that records what it is asked and answers at once."""

    def __init__(self, calls):
        self.calls = calls

    def register(self, fd, events):
        self.calls.append(("register", fd, events))

    def poll(self, timeout):
        self.calls.append(("poll", timeout))
        return []


@pytest.fixture
def recorded_select(monkeypatch):
    calls = []
    fake = type("FakeSelect", (), {
        "POLLIN": select.POLLIN,
        "poll": staticmethod(lambda: _Poll(calls)),
        "select": staticmethod(lambda r, w, x, timeout: calls.append(("select", r, w, x,
                                                                      timeout))),
    })
    monkeypatch.setattr(doorbell, "select", fake)
    return calls


@pytest.mark.parametrize("seconds, milliseconds", [(-3, 0), (0, 0), (0.25, 250), (1, 1000),
                                                   (30, 1000)])
def test_a_wait_is_bounded_by_the_recheck_interval(pair, recorded_select, seconds,
                                                   milliseconds):
    a, _ = pair
    a.ring()  # opens the FIFO
    assert a.wait(seconds) is False
    assert recorded_select == [("register", a._fd, select.POLLIN), ("poll", milliseconds)]


def test_without_a_fifo_a_wait_sleeps_the_bounded_time(bells, recorded_select):
    bell = Doorbell("1:1")
    bells.rmdir()  # no FIFO can be made: no doorbell
    assert bell.wait(0.5) is False
    assert bell.wait(9) is False
    assert recorded_select == [("select", [], [], [], 0.5), ("select", [], [], [], 1.0)]


def test_a_wait_returns_true_on_a_ring_and_false_without(pair):
    a, b = pair
    assert b.wait(0) is False
    a.ring()
    assert b.wait(0) is True
    assert Doorbell("7:42").wait(0) is True, "a fresh handle sees the ring still in the pipe"


def test_without_a_fifo_every_call_is_a_quiet_no_op_for_good(bells):
    bell = Doorbell("1:1")
    bells.rmdir()
    bell.ring()
    bell.ring(3)
    bell.pass_on(5)
    assert bell.drain() == 0
    bells.mkdir()
    other = Doorbell("1:1")
    other.ring()
    assert bell.drain() == 0, "once unusable, the handle makes no more attempts"
    assert other.drain() == 1
    other.close()


def test_a_file_that_is_no_fifo_is_never_written(bells):
    path = bells / "filequeue-1-1.bell"
    path.write_bytes(b"")
    bell = Doorbell("1:1")
    before = open_descriptors()
    bell.ring()
    assert bell.drain() == 0
    assert path.read_bytes() == b""
    assert open_descriptors() == before, "its descriptor was closed"
    path.unlink()
    os.mkfifo(path)
    bell.ring()
    assert Doorbell("1:1").drain() == 0, "once unusable, the handle makes no more attempts"


def test_a_fifo_made_by_another_process_meanwhile_is_used(bells, monkeypatch):
    real_open = os.open
    calls = []

    def racing_open(path, flags, *args):
        calls.append(path)
        if len(calls) == 1:  # another process makes the FIFO right after this one looked
            os.mkfifo(path)
            raise FileNotFoundError(path)
        return real_open(path, flags, *args)

    bell = Doorbell("1:1")
    with monkeypatch.context() as patch:
        patch.setattr(os, "open", racing_open)
        bell.ring()
    assert len(calls) == 2
    assert Doorbell("1:1").drain() == 1
    bell.close()


def test_close_of_a_descriptor_closed_behind_its_back_does_not_raise(pair):
    a, _ = pair
    a.ring()
    os.close(a._fd)
    a.close()
    assert a._fd is None
