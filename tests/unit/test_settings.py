"""Flags fall back to environment variables; bad values of either are usage errors."""

import argparse
from pathlib import Path

import pytest

from queue_core import consumer, monitor, producer
from queue_core.lifecycle import Lifecycle
from queue_core.settings import build_parser, work_time_table, worker_name


def parse(role, argv, environ):
    return build_parser(role.__name__, "", role.SETTINGS, environ).parse_args(argv)


def test_defaults_are_the_originals():
    args = parse(consumer, [], {})
    assert args.queue_file == Path("/shared-queue/tasks.json")
    assert args.results_dir == Path("/shared-results")
    assert args.time_scale == 1.0
    assert args.idle_sleep == 3.0
    assert args.work_times["backup_data"] == (8.0, 15.0)
    assert parse(producer, [], {}).interval == (2.0, 6.0)
    assert parse(monitor, [], {}).interval == 10.0


def test_environment_overrides_defaults_and_flags_override_environment():
    environ = {"TIME_SCALE": "0.5", "QUEUE_FILE": "/q/t.json", "QUEUE_FSYNC": "yes"}
    args = parse(producer, [], environ)
    assert (args.time_scale, args.queue_file, args.fsync) == (0.5, Path("/q/t.json"), True)
    args = parse(producer, ["--time-scale", "0.1", "--no-fsync"], environ)
    assert (args.time_scale, args.fsync) == (0.1, False)


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"TIME_SCALE": "fast"}, "environment variable TIME_SCALE: 'fast' is not a number"),
        ({"TIME_SCALE": "0"}, "greater than 0"),
        ({"MAX_TASKS": "-3"}, "MAX_TASKS: '-3' is not an integer of 1 or more"),
        ({"QUEUE_FSYNC": "maybe"}, "QUEUE_FSYNC: 'maybe' is not a boolean"),
        ({"WORK_TIMES": "send_email=3"}, "WORK_TIMES: '3' is not a range"),
        ({"OTHER_WORK_TIME": "5:2"}, "LOW greater than HIGH"),
        ({"QUEUE_FORMAT": "xml"}, "'xml' is not a queue format"),
        ({"DELIVERY": "exactly-once"}, "'exactly-once' is not a delivery mode"),
        ({"LEASE": "0"}, "LEASE: '0' is not a finite number greater than 0"),
        ({"LEASE": "inf"}, "LEASE: 'inf' is not a finite number greater than 0"),
        ({"QUEUE_MAX_ATTEMPTS": "0"}, "QUEUE_MAX_ATTEMPTS: '0' is not an integer of 1"),
    ],
)
def test_a_bad_environment_value_is_a_usage_error_naming_the_variable(environ, message, capsys):
    with pytest.raises(SystemExit) as caught:
        parse(consumer, [], environ)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_a_bad_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        parse(producer, ["--interval", "6:2"], {})
    assert caught.value.code == 2
    assert "LOW greater than HIGH" in capsys.readouterr().err


def test_work_time_table_reads_several_types():
    assert work_time_table("a=1:2, b=0:0.5") == {"a": (1.0, 2.0), "b": (0.0, 0.5)}
    with pytest.raises(argparse.ArgumentTypeError):
        work_time_table("=1:2")


def test_worker_name_prefers_worker_id_over_the_host_name():
    assert worker_name({"WORKER_ID": "consumer-2"}) == "consumer-2"
    assert worker_name({}) != ""


def test_help_mentions_every_environment_variable(capsys):
    for role in (producer, consumer, monitor):
        with pytest.raises(SystemExit):
            parse(role, ["--help"], {})
        shown = capsys.readouterr().out
        for setting in role.SETTINGS:
            assert setting.env in shown


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_lifecycle_stops_when_its_duration_is_spent():
    clock = FakeClock()
    life = Lifecycle(duration=5.0, clock=clock)
    assert not life.stopping
    clock.now += 5.0
    assert life.stopping
    assert life.stop_reason == "duration reached"


def test_a_sleep_past_the_deadline_ends_at_the_deadline_and_reports_the_stop():
    clock = FakeClock()
    life = Lifecycle(duration=0.0, clock=clock)
    assert life.sleep(3600) is False
    assert life.stopping


def test_stop_ends_a_sleep_and_keeps_the_first_reason():
    life = Lifecycle()
    life.stop("received SIGTERM")
    life.stop("later")
    assert life.sleep(3600) is False
    assert life.stop_reason == "received SIGTERM"
