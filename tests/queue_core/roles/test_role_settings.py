"""Flags fall back to environment variables; bad values of either are usage errors."""

import argparse
from pathlib import Path

import pytest

from queue_core.roles import consumer, monitor, producer
from queue_core.roles.lifecycle import Lifecycle
from queue_core.roles.settings import (
    Setting,
    boolean,
    build_parser,
    integer,
    non_negative_float,
    open_queue,
    positive_float,
    positive_int,
    queue_format,
    seconds_range,
    work_time_table,
    worker_name,
)


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


@pytest.mark.parametrize("word", ["1", "true", "YES", "On"])
def test_true_words_switch_a_setting_on(word):
    assert boolean(word) is True


@pytest.mark.parametrize("word", ["0", "false", "No", "OFF", ""])
def test_false_words_and_an_empty_value_switch_it_off(word):
    assert boolean(word) is False


@pytest.mark.parametrize(("parse_value", "text", "message"), [
    (boolean, "2", "'2' is not a boolean (use 1/0, true/false, yes/no)"),
    (integer, "1.5", "'1.5' is not an integer"),
    (positive_int, "x", "'x' is not an integer"),
    (positive_int, "0", "'0' is not an integer of 1 or more"),
    (positive_float, "0", "'0' is not a finite number greater than 0"),
    (non_negative_float, "-0.5", "'-0.5' is not a finite number of 0 or more"),
    (non_negative_float, "nan?", "'nan?' is not a number"),
    (non_negative_float, "inf", "'inf' is not a finite number of 0 or more"),
    (seconds_range, "3", "'3' is not a range LOW:HIGH in seconds"),
    (seconds_range, "3:1", "range '3:1' has LOW greater than HIGH"),
    (work_time_table, "a:1:2", "'a:1:2' is not TYPE=LOW:HIGH"),
    (work_time_table, "a=b=1:2", "'b=1' is not a number"),  # the type ends at the first =
    (seconds_range, "1:2:3", "'2:3' is not a number"),  # LOW ends at the first colon
    (queue_format, "csv", "'csv' is not a queue format; choose one of journal, json-array"),
])
def test_a_bad_value_is_refused_word_for_word(parse_value, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        parse_value(text)
    assert str(caught.value) == message


def test_values_at_their_bounds_are_accepted():
    assert (positive_int("1"), integer("-4"), non_negative_float("0")) == (1, -4, 0.0)
    assert seconds_range("2:2") == (2.0, 2.0)
    assert seconds_range("0.5:1") == (0.5, 1.0)
    assert queue_format("json-array") == "json-array"


def test_help_shows_each_default_in_its_own_form(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # no line breaks inside a default
    with pytest.raises(SystemExit):
        parse(consumer, ["--help"], {})
    shown = " ".join(capsys.readouterr().out.split())
    assert shown.startswith("usage: queue_core.roles.consumer [-h] [--queue-file PATH] ")
    for text in ("(env QUEUE_FSYNC; default off)", "(env TIME_SCALE; default 1.0)",
                 "(env DURATION)", "(env OTHER_WORK_TIME; default 2:5)",
                 "(env WORK_TIMES; default process_image=3:8,send_email=1:3,"
                 "generate_report=5:12,backup_data=8:15)", "--max-attempts N"):
        assert text in shown
    build_parser("p", "", [Setting("--on", "ON", True, boolean, "a switch")], {}).print_help()
    assert "(env ON; default on)" in capsys.readouterr().out


def test_the_queue_settings_open_the_queue_they_name(tmp_path):
    args = parse(consumer, ["--queue-file", str(tmp_path / "t.json"), "--queue-format",
                            "json-array", "--fsync", "--max-attempts", "2"], {})
    q = open_queue(args)
    assert (q.path, q.format, q.fsync, q.max_attempts) == (
        tmp_path / "t.json", "json-array", True, 2)


def test_settings_are_read_from_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("TIME_SCALE", "0.25")
    monkeypatch.setenv("WORKER_ID", "from-env")
    assert build_parser("c", "", consumer.SETTINGS).parse_args([]).time_scale == 0.25
    assert worker_name() == "from-env"


def test_help_starts_with_the_roles_description(capsys):
    with pytest.raises(SystemExit):
        build_parser("queue-monitor", monitor.__doc__, monitor.SETTINGS, {}).parse_args(
            ["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert shown.startswith("usage: queue-monitor [-h]")
    assert " ".join(monitor.__doc__.split()) in shown


def test_the_environment_variable_of_a_flag():
    from queue_core.roles.settings import environment_name

    assert environment_name(consumer.SETTINGS, "--results-dir") == "RESULTS_DIR"
    assert environment_name(producer.SETTINGS, "--time-scale") == "TIME_SCALE"
    with pytest.raises(KeyError) as caught:
        environment_name(producer.SETTINGS, "--nothing")
    assert caught.value.args == ("no setting with the flag --nothing",)
