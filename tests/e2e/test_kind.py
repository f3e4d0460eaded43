"""The real Pod on kind (marker e2e): deployed from the rendered manifest, checked outside."""

import json
import os
import subprocess
import time
import uuid

import pytest
import yaml

from harness.containers.docker import image_present
from harness.containers.kubernetes import KubernetesPlatform
from harness.containers.placement import Placement
from k8s.render import GRACE_SECONDS, POD_NAME, render
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

IMAGE = os.environ.get("QUEUE_E2E_IMAGE", "python:3.11-alpine")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture
def namespace(kind_cluster):
    if not image_present(IMAGE):
        pytest.skip(f"image {IMAGE} is not in the local Docker store: docker pull {IMAGE} "
                    "(or set QUEUE_E2E_IMAGE)")
    kind_cluster.load_docker_image(IMAGE)
    name = f"queue-e2e-{uuid.uuid4().hex[:8]}"
    kind_cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        kind_cluster.kubectl("delete", "namespace", name, "--wait=false")


def kubectl(cluster, namespace, *args):
    return cluster.kubectl("-n", namespace, *args)


def stream(cluster, namespace, *args):
    return subprocess.Popen(
        [str(cluster.kubectl_path), "-n", namespace, *args],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig_path)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def diagnostics(cluster, namespace):
    """describe, events and every container's logs, for the failure report."""
    parts = []
    for args in (("describe", "pod", POD_NAME), ("get", "events", "--sort-by=.lastTimestamp")):
        try:
            parts.append(kubectl(cluster, namespace, *args))
        except Exception as error:
            parts.append(f"{' '.join(args)} failed: {error}")
    for container in ("producer", "consumer-1", "consumer-2", "monitor"):
        try:
            parts.append(f"----- {container} -----\n"
                         + kubectl(cluster, namespace, "logs", POD_NAME, "-c", container))
        except Exception as error:
            parts.append(f"logs of {container} failed: {error}")
    return "\n".join(parts)


def test_the_pod_on_kind_completes_every_task_once_and_stops_cleanly(
    kind_cluster, namespace, tmp_path
):
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(render(test_pod_options(IMAGE, namespace=namespace)))
    try:
        kubectl(kind_cluster, namespace, "apply", "-f", str(manifest))
        # Not condition=Ready: the producer ends after its tasks, and the Pod then stops being
        # Ready while the other containers still run.
        kubectl(kind_cluster, namespace, "wait", f"pod/{POD_NAME}",
                "--for=jsonpath={.status.phase}=Running", "--timeout=180s")
        follower = stream(kind_cluster, namespace, "logs", "-f", POD_NAME, "-c", "monitor")
        try:
            reports = reports_until_done(follower.stdout, TASKS, time.monotonic() + 300)
        finally:
            follower.kill()
            follower.wait()
        results = json.loads(kubectl(kind_cluster, namespace, "exec", POD_NAME, "-c", "monitor",
                                     "--", "python", "-c", DUMP_RESULTS))
        produced = produced_ids(kubectl(kind_cluster, namespace, "logs", POD_NAME, "-c",
                                        "producer"))
        spec = yaml.safe_load_all(manifest.read_text())
        pod_spec = next(d for d in spec if d["kind"] == "Pod")
        consumers = {c["name"] for c in pod_spec["spec"]["containers"]
                     if c["name"].startswith("consumer")}
        logs = [kubectl(kind_cluster, namespace, "logs", POD_NAME, "-c", c) for c in consumers]
        assert_one_result_per_task(produced, results, completions(logs), consumers)
        assert_reports_grow_and_match(reports, results)

        exit_codes = delete_and_collect_exit_codes(kind_cluster, namespace)
        assert exit_codes == {c["name"]: 0 for c in pod_spec["spec"]["containers"]}
    except BaseException:
        print(diagnostics(kind_cluster, namespace))
        raise


def delete_and_collect_exit_codes(cluster, namespace):
    """Delete the Pod and read each container's exit code, by name, as the watch reports it."""
    watch = stream(cluster, namespace, "get", "pod", POD_NAME, "--watch", "-o", "json")
    began = time.monotonic()
    kubectl(cluster, namespace, "delete", "pod", POD_NAME, "--wait=false")
    codes = {}
    decoder = json.JSONDecoder()
    buffered = ""
    try:
        for line in watch.stdout:
            buffered += line
            try:
                pod, _ = decoder.raw_decode(buffered.strip())
            except ValueError:
                continue
            buffered = ""
            for status in pod.get("status", {}).get("containerStatuses", []):
                terminated = status.get("state", {}).get("terminated")
                if terminated is not None:
                    codes[status["name"]] = terminated["exitCode"]
            if len(codes) == len(pod["spec"]["containers"]):
                break
            if time.monotonic() - began > GRACE_SECONDS + 60:
                break
    finally:
        watch.kill()
        watch.wait()
    assert time.monotonic() - began < GRACE_SECONDS + 60
    return codes


@pytest.mark.parametrize("layout, delivery", [("pod", "at-most-once"),
                                              ("pods", "at-least-once")])
def test_a_stress_run_on_kind_killed_and_restarted_is_valid(kind_cluster, tmp_path, layout,
                                                          delivery):
    """The harness across the containers of one Pod, and across Pods of one node, with kills
    (Kubernetes backs off a container restarted again and again, up to five minutes: fewer,
    slower kills than on Docker)."""
    if not image_present(IMAGE):
        pytest.skip(f"image {IMAGE} is not in the local Docker store: docker pull {IMAGE} "
                    "(or set QUEUE_E2E_IMAGE)")
    kind_cluster.load_docker_image(IMAGE)
    placement = Placement(on="kubernetes", image=IMAGE, layout=layout, users=(1001, 1002))
    platform = KubernetesPlatform(placement, kubectl=str(kind_cluster.kubectl_path),
                                  kubeconfig=kind_cluster.kubeconfig_path)
    assert_valid_stress_on_kubernetes(placement, platform, delivery, kill_every_ms=2000,
                                      min_kills=5)
