"""The rendered Pod's containers on a Docker engine (marker container), where kind is missing."""

import json
import os
import time

import pytest
import yaml

from k8s.render import GRACE_SECONDS, render

from .docker_pod import DockerPod, engine_answers, image_present
from .pod_checks import (
    DUMP_RESULTS,
    TASKS,
    assert_one_result_per_task,
    assert_reports_grow_and_match,
    completions,
    produced_ids,
    reports_until_done,
    test_pod_options,
)

IMAGE = os.environ.get("QUEUE_TEST_IMAGE", "queue-python:bookworm")

pytestmark = [pytest.mark.container, pytest.mark.timeout(300)]


@pytest.fixture
def pod():
    if not engine_answers():
        pytest.skip("no Docker engine answers: install docker.io and start dockerd")
    if not image_present(IMAGE):
        pytest.skip(f"image {IMAGE} is missing: build it with .ci/build-test-image "
                    "or set QUEUE_TEST_IMAGE to an image with python3")
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
