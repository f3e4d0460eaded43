"""The rendered Pod's containers on a Docker engine (marker container), where kind is missing."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.containers.docker import engine_answers, image_present
from harness.containers.kubernetes import KubernetesPlatform
from harness.containers.placement import Placement
from k8s.render import GRACE_SECONDS, render
from tests.e2e.docker_pod import DockerPod
from tests.e2e.pod_checks import (
    DUMP_RESULTS,
    TASKS,
    assert_one_result_per_task,
    assert_reports_grow_and_match,
    completions,
    produced_ids,
    reports_until_done,
    test_pod_options,
)
from tests.e2e.stress_checks import assert_valid_stress_on_kubernetes

IMAGE = os.environ.get("QUEUE_TEST_IMAGE", "queue-python:bookworm")

pytestmark = [pytest.mark.container, pytest.mark.timeout(300)]


@pytest.fixture
def engine():
    if not engine_answers():
        pytest.skip("no Docker engine answers: install docker.io and start dockerd")
    if not image_present(IMAGE):
        pytest.skip(f"image {IMAGE} is missing: build it with .ci/build-test-image "
                    "or set QUEUE_TEST_IMAGE to an image with python3")


@pytest.fixture
def pod(engine):
    documents = list(yaml.safe_load_all(render(test_pod_options(IMAGE))))
    pod = DockerPod(documents)
    try:
        pod.start()
        yield pod
    finally:
        for name in pod.containers:
            print(f"----- logs of {name} -----\n{pod.logs(name)}")
        pod.remove()


def test_the_pod_completes_every_task_once_and_stops_cleanly(pod):
    follower = pod.follow("monitor")
    try:
        reports = reports_until_done(follower.stdout, TASKS, time.monotonic() + 180)
    finally:
        follower.kill()
        follower.wait()
    results = json.loads(pod.exec("monitor", "python", "-c", DUMP_RESULTS))
    produced = produced_ids(pod.logs("producer"))
    consumers = {name for name in pod.containers if name.startswith("consumer")}
    assert_one_result_per_task(produced, results, completions(pod.logs(c) for c in consumers),
                               consumers)
    assert_reports_grow_and_match(reports, results)
    hosts = {pod.hostname(name) for name in pod.containers}
    assert hosts == {"queue-communication"}, "the containers must share the Pod's host name"

    for name in pod.containers:
        code, seconds = pod.stop(name, GRACE_SECONDS)
        assert code == 0, f"{name} exited with {code} on SIGTERM"
        assert seconds < GRACE_SECONDS, f"{name} took {seconds:.1f} s: it was killed, not stopped"


def stress_in_containers(out, *flags):
    """``harness stress --on docker`` with ``flags``; its exit code and report."""
    code = main(["stress", "--on", "docker", "--image", IMAGE, "--out", str(out), "--quiet",
                 "--timeout", "400", *flags])
    return code, json.loads((out / "report.json").read_text())


def containers_in(out):
    """Every worker process of the run's history, as container name -> its starts."""
    starts = {}
    for line in (out / "history.jsonl").read_text().splitlines():
        process = json.loads(line)["process"]
        if process != "drain":
            name, start = process.rsplit(".", 1)
            starts.setdefault(name, set()).add(int(start))
    return starts


@pytest.mark.parametrize("delivery, users", [
    ("at-most-once", []), ("at-least-once", ["--users", "1001,1002", "--work", "20"])])
def test_a_stress_run_across_containers_killed_and_restarted_is_valid(engine, tmp_path,
                                                                     delivery, users):
    code, report = stress_in_containers(
        tmp_path, "--producers", "4", "--consumers", "4", "--items", "5000", "--rate", "100",
        "--block", "100", "--kill-every", "400", "--delivery", delivery, "--seed", "13", *users)
    assert (code, report["verdict"]) == (0, "VALID"), report["first_violation"]
    assert report["run"]["kills"] >= 20
    assert report["run"]["containers"]["restarts"] >= 20
    starts = containers_in(tmp_path)
    names = {f"{role}-{n}" for role in ("producer", "consumer") for n in range(1, 5)}
    assert names | {"reader-1"} == starts.keys(), "a history from every container"
    assert sum(len(s) - 1 for s in starts.values()) >= 20, "restarts show as new processes"
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    puts_in_doubt = sum(1 for op in history if op["op"] == "put" and op["type"] == "info")
    assert report["counts"]["put_ok"] + puts_in_doubt == 5000, "a quota goes on after kills"
    assert report["counts"]["lost"] == 0
    if delivery == "at-least-once":
        assert report["counts"]["redelivered_after_holder_killed"] >= 1, (
            "a consumer killed while it held a claim: its item comes again after the lease")


def test_a_broken_queue_shipped_into_the_containers_is_caught(engine, tmp_path):
    code, report = stress_in_containers(
        tmp_path, "--backend", "mutant-no-lock", "--producers", "4", "--consumers", "4",
        "--items", "2000", "--rate", "200", "--block", "100", "--kill-every", "500",
        "--seed", "13")
    assert (code, report["verdict"]) == (1, "INVALID")


@pytest.fixture
def image_without_python(engine):
    name = "queue-python:no-python"
    build = subprocess.run(["docker", "build", "-q", "-t", name, "-"], text=True,
                           input=f"FROM {IMAGE}\nRUN rm -f /usr/bin/python3* /usr/bin/python\n",
                           capture_output=True, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    assert build.returncode == 0, build.stderr
    yield name
    subprocess.run(["docker", "image", "rm", "-f", name], capture_output=True)


def test_an_image_without_python_is_refused_in_one_line_and_nothing_is_left(
        image_without_python, tmp_path, capsys):
    code = main(["stress", "--on", "docker", "--image", image_without_python, "--items", "10",
                 "--out", str(tmp_path), "--quiet"])
    assert code == 2
    assert "cannot run the workers" in capsys.readouterr().err
    left = subprocess.run(["docker", "ps", "-aq", "--filter", "label=filequeue-harness.run"],
                          capture_output=True, text=True, check=True).stdout
    assert left == ""


@pytest.fixture
def stand_in_kubectl(engine, tmp_path, monkeypatch):
    """``kubectl`` played by ``fake_kubectl.py`` on the Docker engine."""
    script = tmp_path / "kubectl"
    stand_in = Path(__file__).parent / "fake_kubectl.py"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} {stand_in} "$@"\n')
    script.chmod(0o755)
    monkeypatch.setenv("FAKE_KUBECTL_STATE", str(tmp_path / "state"))
    yield script
    left = subprocess.run(["docker", "ps", "-aq", "--filter", "label=fake-kubectl"],
                          capture_output=True, text=True).stdout.split()
    subprocess.run(["docker", "rm", "-f", *left], capture_output=True)
    assert not left, "the namespace's deletion removes every container"


@pytest.mark.parametrize("layout, delivery", [("pod", "at-most-once"),
                                              ("pods", "at-least-once")])
def test_the_kubernetes_platform_with_a_stand_in_kubectl(stand_in_kubectl, layout, delivery):
    placement = Placement(on="kubernetes", image=IMAGE, layout=layout, users=(1001, 1002))
    platform = KubernetesPlatform(placement, kubectl=str(stand_in_kubectl))
    assert_valid_stress_on_kubernetes(placement, platform, delivery, kill_every_ms=500,
                                      min_kills=5)
