"""A worker takes its harness for gone when the heartbeat stops, whatever the two clocks say:
the harness's clock may run ahead of the worker's (another node), and the shared volume may be
removed under the worker."""

import os
import time

import pytest

from harness.stress.heartbeat import ABANDONED_AFTER, Heartbeat


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def heartbeat_file(tmp_path):
    path = tmp_path / "heartbeat"
    path.touch()
    return path


def touched_at(path, seconds_from_now):
    when = time.time() + seconds_from_now
    os.utime(path, (when, when))


def test_a_heartbeat_touched_now_has_not_stopped(heartbeat_file, clock):
    assert not Heartbeat(heartbeat_file, monotonic=clock).stopped()


def test_a_heartbeat_last_touched_long_ago_has_stopped(heartbeat_file, clock):
    touched_at(heartbeat_file, -2 * ABANDONED_AFTER)
    assert Heartbeat(heartbeat_file, monotonic=clock).stopped()


def test_a_heartbeat_from_a_clock_ahead_stops_once_it_no_longer_changes(heartbeat_file, clock):
    touched_at(heartbeat_file, 3600)  # the harness's node runs an hour ahead, then dies
    heartbeat = Heartbeat(heartbeat_file, monotonic=clock)
    assert not heartbeat.stopped()
    clock.now += ABANDONED_AFTER / 2
    assert not heartbeat.stopped()
    clock.now += ABANDONED_AFTER
    assert heartbeat.stopped()


def test_a_heartbeat_from_a_clock_ahead_that_keeps_changing_has_not_stopped(
        heartbeat_file, clock):
    heartbeat = Heartbeat(heartbeat_file, monotonic=clock)
    for hour in range(1, 5):
        touched_at(heartbeat_file, 3600 + hour)
        assert not heartbeat.stopped()
        clock.now += ABANDONED_AFTER * 0.9


def test_a_heartbeat_removed_after_it_was_seen_has_stopped(heartbeat_file, clock):
    heartbeat = Heartbeat(heartbeat_file, monotonic=clock)
    assert not heartbeat.stopped()
    heartbeat_file.unlink()
    assert heartbeat.stopped()


def test_a_heartbeat_that_never_existed_means_nobody_watches(tmp_path, clock):
    heartbeat = Heartbeat(tmp_path / "heartbeat", monotonic=clock)
    clock.now += 10 * ABANDONED_AFTER
    assert not heartbeat.stopped()
