"""A stress run in containers, without containers: the commands the workers get, the flags
that choose a placement, and one history made of every container's file."""

import json
from pathlib import Path

import pytest

from harness.checkers import check
from harness.cli import build_parser
from harness.containers.docker import DockerPlatform
from harness.containers.inside import HISTORY_UNWRITABLE, MARKER_UNREADABLE
from harness.containers.kubernetes import KubernetesPlatform
from harness.containers.options import (
    CONTAINER_BLOCK,
    CONTAINER_RATE,
    container_defaults,
    placement_from,
)
from harness.containers.placement import Placement
from harness.containers.platform import Collected, NodeTime
from harness.containers.run import (
    MIN_UPTIME,
    ContainerRun,
    history_of,
    refuse_unless_containable,
    restarts,
    run_in_containers,
    worker_containers,
)
from harness.errors import PlatformError, UsageError
from harness.history.recorder import records_from_lines
from harness.stress.config import StressConfig


def lines(*reports):
    return [json.dumps(report) for report in reports]


def test_an_operation_never_completed_is_an_info_record_ending_at_the_death():
    records = records_from_lines("c.0", [
        *lines(["I", "get", 10, None], ["C", "ok", 12, "a", None], ["I", "get", 20, None]),
        '["C", "ok", 2',  # a line cut short by the read
    ], died_at=25)
    assert [(r["op"], r["type"], r["call"], r["return"], r["value"]) for r in records] == [
        ("get", "ok", 10, 12, "a"), ("get", "info", 20, 25, None)]


def history_file(*reports):
    return "\n".join(lines(*reports)) + "\n"


def test_one_history_from_every_start_of_every_container_and_the_drain():
    collected = Collected({
        "producer-1.0.jsonl": history_file(["I", "put", 100, "x"]),  # killed in its put
        "producer-1.1.jsonl": history_file(["I", "put", 300, "y"], ["C", "ok", 310, None, None]),
        "consumer-1.0.jsonl": history_file(["I", "get", 150, None], ["C", "ok", 160, "x", None]),
        "drain.jsonl": json.dumps({"process": "drain", "op": "drained", "value": None,
                                   "type": "ok", "call": 400, "return": 401}) + "\n",
    }, {"producer-1": 0, "consumer-1": 0})
    history = history_of(collected, {"producer-1": [NodeTime("n", 200)]},
                         stopped_at=NodeTime("n", 500))
    assert [(r["process"], r["op"], r["type"], r["call"], r["return"]) for r in history] == [
        ("producer-1.0", "put", "info", 100, 200),
        ("consumer-1.0", "get", "ok", 150, 160),
        ("producer-1.0", "killed", "ok", 200, 200),
        ("producer-1.1", "put", "ok", 300, 310),
        ("drain", "drained", "ok", 400, 401),
    ]
    assert restarts(collected) == 1


def test_a_worker_left_running_at_a_stop_ends_its_operation_at_the_stop():
    collected = Collected({"consumer-1.0.jsonl": history_file(["I", "get", 150, None])}, {})
    (record,) = history_of(collected, {}, stopped_at=NodeTime("n", 500))
    assert (record["type"], record["return"]) == ("info", 500)


def test_each_worker_container_gets_its_role_slot_quota_and_the_runs_settings():
    config = StressConfig(producers=2, consumers=1, readers=1, items=5, fsync=True, rate=50.0,
                          block=0.1, work=0.02, seed=7)
    workers = worker_containers(config, Placement(users=(1001, 1002)))
    assert [(w.name, w.role, w.slot, w.user) for w in workers] == [
        ("producer-1", "producer", 0, 1001), ("producer-2", "producer", 1, 1002),
        ("consumer-1", "consumer", 0, 1001), ("reader-1", "reader", 0, 1002)]
    command = " ".join(workers[1].command)
    for part in ("--name producer-2", "--role producer", "--slot 1", "--quota 2", "--fsync",
                 "--rate 50", "--block 100", "--work 20", "--seed 7", "--umask 002"):
        assert part in command
    assert "--umask" not in " ".join(worker_containers(config, Placement())[0].command)


def stress_args(*argv):
    return build_parser().parse_args(["stress", *argv])


@pytest.mark.parametrize("argv, message", [
    (["--users", "1000"], "--users apply to --on docker or kubernetes only"),
    (["--on", "docker", "--layout", "pods"], "the layout pods needs Kubernetes"),
    (["--on", "kubernetes", "--claim", "data"], "a claim is shared by the layout pods only"),
    (["--on", "docker", "--users", "1000", "--group", "4294967296"], "group ids are whole"),
    (["--on", "docker", "--users", "4294967295"], "user ids are whole numbers from 0"),
    (["--on", "docker", "--namespace", "ns"], "--namespace applies only to --on kubernetes"),
])
def test_flags_that_cannot_place_the_workers_are_refused_with_the_reason(argv, message):
    with pytest.raises(UsageError, match=message):
        placement_from(stress_args(*argv))


def test_a_user_list_that_is_not_one_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        stress_args("--on", "docker", "--users", "1000,x")
    assert exit_info.value.code == 2
    assert "argument --users: '1000,x' is not a comma-separated list of user ids" in (
        capsys.readouterr().err)


def test_the_placement_flags_run_again_as_given():
    placement = placement_from(stress_args("--on", "kubernetes", "--layout", "pods", "--users",
                                           "1000,1001", "--image", "python:3.12-alpine",
                                           "--namespace", "mine", "--keep"))
    assert placement.flags() == ["--on", "kubernetes", "--image", "python:3.12-alpine",
                                 "--layout", "pods", "--users", "1000,1001", "--group", "2000"]
    assert placement_from(stress_args()) is None


@pytest.mark.parametrize("change, message", [
    ({"backend": "redis-list"}, "does not ship into containers"),
    ({"backend": "mutant-ignores-short-writes"}, "does not ship into containers"),
    ({"faults": ("eio",)}, "local runs only"),
])
def test_a_run_that_cannot_go_into_containers_is_refused_before_anything_starts(change,
                                                                                 message):
    with pytest.raises(ValueError, match=message):
        refuse_unless_containable(StressConfig(**change))


def test_a_container_run_with_kills_is_paced_and_its_consumers_wait_unless_told_otherwise():
    paced = container_defaults(StressConfig(kill_every_ms=500))
    assert (paced.rate, paced.block) == (CONTAINER_RATE, CONTAINER_BLOCK)
    assert container_defaults(StressConfig()).rate is None, "no kills: as fast as it goes"
    chosen = container_defaults(StressConfig(kill_every_ms=500, rate=7.0, block=0.5))
    assert (chosen.rate, chosen.block) == (7.0, 0.5)


def test_the_kubernetes_layouts_share_one_volume_on_one_node_with_the_code_shipped():
    workers = worker_containers(StressConfig(producers=1, consumers=1, readers=0, items=4),
                                Placement(on="kubernetes", users=(1001,)))
    one_pod = KubernetesPlatform(Placement(on="kubernetes", users=(1001,)))
    pod = one_pod.pod("stress", [one_pod.stand_by(), *map(one_pod.container, workers)],
                      one_pod.volume())
    spec = pod["spec"]
    assert spec["restartPolicy"] == "OnFailure" and spec["securityContext"] == {"fsGroup": 2000}
    assert [c["name"] for c in spec["containers"]] == ["stand-by", "producer-1", "consumer-1"]
    assert spec["containers"][1]["securityContext"] == {"runAsUser": 1001, "runAsGroup": 2000}
    assert {"name": "shared", "emptyDir": {}} in spec["volumes"]
    shipped = {item["path"] for item in spec["volumes"][1]["configMap"]["items"]}
    assert {"harness/containers/inside.py", "queue_core/queue.py"} <= shipped
    assert set(one_pod.configmap()["data"]) == {p.replace("/", "--") for p in shipped}

    many = KubernetesPlatform(Placement(on="kubernetes", layout="pods"))
    assert many.volume()["hostPath"]["path"].endswith(many.namespace)
    assert many.pod("producer-1", [], many.volume(), "node-a")["spec"]["nodeName"] == "node-a"
    claimed = KubernetesPlatform(Placement(on="kubernetes", layout="pods", claim="data"))
    assert claimed.volume() == {"name": "shared", "persistentVolumeClaim": {"claimName": "data"}}
    with pytest.raises(PlatformError, match="RFC 1123"):
        KubernetesPlatform(Placement(on="kubernetes", namespace="Not_A_Label"))


class RecordingPlatform:
    """Kills whatever it is asked to, and remembers whom."""

    def __init__(self):
        self.killed = []

    def kill(self, worker):
        self.killed.append(worker.name)
        return NodeTime("n", len(self.killed))


def test_a_container_is_killed_again_only_after_it_came_back_and_worked_a_while():
    config = StressConfig(producers=1, consumers=1, readers=1, kill_every_ms=100)
    workers = worker_containers(config, Placement())
    platform = RecordingPlatform()
    watch = ContainerRun(config, platform, workers)
    watch.note_starts({"producer-1": 1, "consumer-1": 1, "reader-1": 1}, now=0.0)
    watch.kill_one({}, scheduled=MIN_UPTIME / 2)
    assert platform.killed == [], "no start is killed before it worked MIN_UPTIME"
    watch.kill_one({}, scheduled=MIN_UPTIME)
    watch.kill_one({}, scheduled=MIN_UPTIME)
    watch.kill_one({}, scheduled=MIN_UPTIME)
    assert sorted(platform.killed) == ["consumer-1", "producer-1"], "each once, readers never"
    first = platform.killed[0]
    watch.note_starts({first: 2}, now=2.0)
    watch.kill_one({}, scheduled=2.0 + MIN_UPTIME / 2)
    assert len(platform.killed) == 2, "back, but not working long enough yet"
    watch.kill_one({}, scheduled=2.0 + MIN_UPTIME)
    assert platform.killed[2:] == [first]
    watch.note_starts({first: 3}, now=4.0)
    watch.kill_one({first: 0}, scheduled=10.0)
    assert len(platform.killed) == 3, "a worker that finished is never killed"


class FinishedPlatform:
    """A platform whose workers have all ended by themselves, leaving ``histories``."""

    poll_seconds = 0.0

    def __init__(self, histories, finished, drain_error=None):
        self.collected = Collected(histories, finished)
        self.drain_error = drain_error
        self.removed = False

    def start(self, workers):
        pass

    def touch(self, marker):
        pass

    def status(self):
        return Collected({}, self.collected.finished)

    def stop_workers(self):
        pass

    def node_clock(self):
        return NodeTime("n", 10**9)

    def run_drain(self, command):
        if self.drain_error:
            raise PlatformError(self.drain_error)

    def collect(self):
        return self.collected

    def describe(self):
        return {"on": "fake", "image": "none"}

    def remove(self):
        self.removed = True


ONE_PRODUCER = StressConfig(producers=1, consumers=1, readers=0, items=1)
FINISHED = {"producer-1": 0, "consumer-1": 0}


def test_a_drain_that_fails_is_the_runs_failure_and_the_workers_history_is_kept():
    platform = FinishedPlatform({"producer-1.0.jsonl": history_file(
        ["I", "put", 1, "x"], ["C", "ok", 2, None, None])}, FINISHED, drain_error="disk full")
    run = run_in_containers(ONE_PRODUCER, Placement(), platform)
    assert run.failure == "the drain failed: disk full"
    assert [op["op"] for op in run.history] == ["put"] and platform.removed


def test_a_damaged_history_gives_no_verdict_but_the_reason():
    platform = FinishedPlatform({"producer-1.0.jsonl": '["I", "put", 1\n["I", "put", 3, "y"]\n'},
                                FINISHED)
    run = run_in_containers(ONE_PRODUCER, Placement(), platform)
    assert run.failure.startswith("a history file is damaged, so no verdict is given: line 1")
    assert run.history == []


def test_workers_that_could_not_record_or_report_are_failures_named_in_words():
    finished = {"producer-1": HISTORY_UNWRITABLE, "consumer-1": MARKER_UNREADABLE}
    run = run_in_containers(ONE_PRODUCER, Placement(), FinishedPlatform({}, finished))
    assert run.worker_failures == [
        "consumer-1 ended, but its exit code could not be read",
        "producer-1 stopped: its history file took no more (a full or failing volume)"]


def test_the_docker_volume_is_an_absolute_folder_whatever_the_out_folder(tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "relative").mkdir()
    platform = DockerPlatform(Placement(), Path("relative"))
    assert platform.shared.root.is_absolute()
    platform.remove()
    assert list((tmp_path / "relative").iterdir()) == []


# -- one clock per node ----------------------------------------------------------------------

HOURS_AHEAD = 3 * 3600 * 10**9  # the workers' node booted three hours before the harness's


class FarNodePlatform(RecordingPlatform):
    """A node whose monotonic clock is hours ahead of the harness's: its kill command and
    its clock answer in that clock."""

    def __init__(self, now):
        super().__init__()
        self.now = now

    def kill(self, worker):
        self.killed.append(worker.name)
        return NodeTime("far-node", self.now)


def test_kills_and_the_end_of_a_container_run_are_on_the_workers_clock_not_the_harnesss():
    base = HOURS_AHEAD + 10**9
    config = StressConfig(producers=1, consumers=1, readers=0, kill_every_ms=100)
    platform = FarNodePlatform(now=base + 5_000)
    watch = ContainerRun(config, platform, worker_containers(config, Placement()))
    watch.note_starts({"producer-1": 1, "consumer-1": 1}, now=0.0)
    watch.kill_one({}, scheduled=MIN_UPTIME)
    (victim,) = platform.killed
    other = "consumer-1" if victim == "producer-1" else "producer-1"
    in_flight = ["I", "put", base + 4_000, "x"] if victim == "producer-1" else [
        "I", "get", base + 4_000, None]
    collected = Collected({
        f"{victim}.0.jsonl": history_file(["clock", "far-node"], in_flight),
        f"{other}.0.jsonl": history_file(["clock", "far-node"], ["I", "put" if other ==
                                         "producer-1" else "get", base + 100, "y" if other ==
                                         "producer-1" else None], ["C", "ok", base + 200,
                                         None, None]),
    }, {})
    history = history_of(collected, watch.kills, stopped_at=NodeTime("far-node", base + 9_000))
    (killed,) = [r for r in history if r["op"] == "killed"]
    assert (killed["call"], killed["clock"]) == (base + 5_000, "far-node")
    (crashed,) = [r for r in history if r["type"] == "info"]
    assert crashed["return"] == base + 5_000, "it ends at its kill, on its own clock"
    assert all(r["return"] >= r["call"] for r in history)
    assert check(history).checkers["errors"].valid


def test_a_history_on_clocks_that_cannot_be_compared_is_refused_naming_the_processes():
    history = [{"process": "producer-1.0", "op": "put", "value": "x", "type": "ok",
                "call": 10, "return": 20, "clock": "node-a"},
               {"process": "consumer-1.0", "op": "get", "value": "x", "type": "ok",
                "call": 30, "return": 40, "clock": "node-b"},
               {"process": "drain", "op": "get", "value": None, "type": "ok",
                "call": 50, "return": 60}]
    report = check(history)
    assert report.valid is None
    error = report.checkers["queue"].error
    assert "clocks that cannot be compared" in error
    assert "clock node-a: processes producer-1.0" in error
    assert "clock node-b: processes consumer-1.0" in error
    assert "no clock named: processes drain" in error
