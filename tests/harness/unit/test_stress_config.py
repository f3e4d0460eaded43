"""The one stress configuration: each setting's default and flag are defined once, in
``StressConfig``, and the parser, the containers' command lines and the rerun command all
follow it."""

import dataclasses
import shlex

import pytest

from harness.cli import build_parser
from harness.commands.stress import config_from
from harness.containers import inside
from harness.containers.placement import Placement
from harness.containers.run import drain_command, worker_containers
from harness.errors import UsageError
from harness.flags import from_args
from harness.reporting.evidence import rerun_command
from harness.stress.config import StressConfig


def stress_parser():
    parser = build_parser()
    (commands,) = (a for a in parser._actions if a.dest == "command")
    return parser, commands.choices["stress"]


def field(name):
    return {f.name: f for f in dataclasses.fields(StressConfig)}[name]


def test_a_default_changed_in_the_configuration_shows_everywhere(monkeypatch):
    monkeypatch.setattr(field("lease"), "default", 0.75)
    monkeypatch.setattr(field("nack_fraction"), "default", 0.125)
    parser, stress = stress_parser()
    assert "(default 0.75)" in " ".join(stress.format_help().split())
    config = config_from(parser.parse_args(["stress", "--delivery", "at-least-once"]))
    assert (config.lease, config.nack_fraction) == (0.75, 0.125)
    command = worker_containers(config, Placement())[0].command
    assert "--lease 0.75 --nack-fraction 0.125" in " ".join(command)
    worker = from_args(StressConfig, inside.build_parser().parse_args(list(command[3:])))
    assert (worker.lease, worker.nack_fraction) == (0.75, 0.125)
    assert "--lease 0.75 --nack-fraction 0.125" in rerun_command(config)


@pytest.mark.parametrize("argv", [
    [],
    ["--producers", "3", "--consumers", "5", "--readers", "0", "--items", "77", "--fsync",
     "--delivery", "at-least-once", "--lease", "0.3", "--nack-fraction", "0.5", "--work", "2.5",
     "--block", "40", "--rate", "12.5", "--kill-every", "30", "--duration", "9"],
    ["--faults", "eio,short-write", "--fault-rate", "0.2", "--precreate", "--timeout", "60"],
])
def test_the_rerun_command_gives_the_same_configuration_back(argv):
    parser, _ = stress_parser()
    config = config_from(parser.parse_args(["stress", "--seed", "5", *argv]))
    rerun = shlex.split(rerun_command(config))
    assert rerun[:4] == ["python", "-m", "harness", "stress"]
    assert config_from(parser.parse_args(["stress", *rerun[4:]])) == config


def test_a_container_worker_and_the_drain_get_every_setting_they_run_with():
    config = StressConfig(backend="filequeue-json-array", fsync=True, delivery="at-least-once",
                          lease=2.0, nack_fraction=0.1, rate=30.0, block=0.05, work=0.25,
                          seed=9)
    parser = inside.build_parser()
    for command in (worker_containers(config, Placement())[0].command,
                    drain_command(config, limit=10)):
        worker = from_args(StressConfig, parser.parse_args(list(command[3:])))
        for name in ("backend", "fsync", "delivery", "lease", "nack_fraction", "rate", "block",
                     "work", "seed"):
            assert getattr(worker, name) == getattr(config, name), name


@pytest.mark.parametrize("argv, message", [
    (["--lease", "1"], "--lease applies only to --delivery at-least-once"),
    (["--nack-fraction", "0.1"], "--nack-fraction applies only to --delivery at-least-once"),
    (["--fault-rate", "0.1"], "--fault-rate applies only with --faults"),
    (["--faults", "eio", "--fault-rate", "2"], "--fault-rate 2: a share of calls"),
])
def test_a_flag_that_does_not_apply_is_refused_by_name(argv, message):
    parser, _ = stress_parser()
    with pytest.raises(UsageError, match=message):
        config_from(parser.parse_args(["stress", *argv]))
