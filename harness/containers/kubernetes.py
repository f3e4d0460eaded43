"""The workers as containers on a Kubernetes cluster (``kubectl``, the current context or a
given kubeconfig), in a namespace of their own.

Layout ``pod``: one Pod whose containers are the workers and a stand-by container, sharing an
``emptyDir`` (the seed's shape). Layout ``pods``: one Pod per worker and a stand-by Pod, all
placed on the stand-by's node, sharing a ``hostPath`` (or a ReadWriteMany claim). The stand-by
container prepares the volume, and the harness reaches the volume and runs the drain through it.
Worker containers restart with ``restartPolicy: OnFailure`` when their worker is killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from k8s.render import config_key, label_problem, labels

from ..errors import PlatformError
from .placement import CODE_MOUNT, ENTRY, ENVIRONMENT, SHARED_MOUNT, Placement, shipped_files
from .platform import Collected, NodeTime, WorkerContainer, killed_at, node_time

STAND_BY = "stand-by"
#: The hostPath folder of the layout ``pods``, one sub-folder per namespace.
HOST_PATH_ROOT = "/var/tmp/filequeue-harness"
READY_SECONDS = 300
#: Removes what a run left in a hostPath folder (it outlives the namespace).
EMPTY_VOLUME = f"import shutil; shutil.rmtree({SHARED_MOUNT!r}, ignore_errors=True)"


class KubernetesPlatform:
    """A run's containers on a cluster (``Platform``)."""

    #: Each look at the volume is a ``kubectl exec``: not too often.
    poll_seconds = 1.0

    def __init__(self, placement: Placement, kubectl: str = "kubectl",
                 kubeconfig: Path | None = None) -> None:
        self.placement = placement
        self.kubectl_path = kubectl
        self.kubeconfig = kubeconfig
        self.namespace = placement.namespace or f"filequeue-stress-{uuid.uuid4().hex[:8]}"
        problem = label_problem(self.namespace)
        if problem is not None:
            raise PlatformError(f"namespace {self.namespace!r}: {problem}")
        self.pod_of: dict[str, str] = {}
        self.created = False

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True,
                timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run kubectl in the run's namespace (``PlatformError`` if it fails and ``check``)."""
        env = dict(os.environ)
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        try:
            done = subprocess.run([self.kubectl_path, "-n", self.namespace, *args], input=stdin,
                                  capture_output=True, text=True, env=env, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PlatformError(f"kubectl {' '.join(args[:2])}: {error}") from error
        if check and done.returncode != 0:
            raise PlatformError(f"kubectl {' '.join(args[:3])} failed: {done.stderr.strip()}")
        return done

    def start(self, workers: list[WorkerContainer]) -> None:
        self.kubectl("create", "namespace", self.namespace)
        self.created = True
        self._apply([self.configmap()])
        if self.placement.layout == "pod":
            self._apply([self.pod("stress", [self.stand_by(), *map(self.container, workers)],
                                  self.volume())])
            self.pod_of = {w.name: "stress" for w in workers} | {STAND_BY: "stress"}
            self._wait_for_stand_by()
            return
        self._apply([self.pod(STAND_BY, [self.stand_by()], self.volume())])
        self.pod_of[STAND_BY] = STAND_BY
        self._wait_for_stand_by()
        node = self.kubectl("get", "pod", STAND_BY, "-o",
                            "jsonpath={.spec.nodeName}").stdout.strip()
        for worker in workers:
            self._apply([self.pod(worker.name, [self.container(worker)], self.volume(), node)])
            self.pod_of[worker.name] = worker.name

    def _wait_for_stand_by(self) -> None:
        """Return once the stand-by container answers (image pulled, volume prepared)."""
        deadline = time.monotonic() + READY_SECONDS
        while self._exec(STAND_BY, *ENTRY, "touch", "--shared", SHARED_MOUNT, "--marker",
                         "heartbeat", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise PlatformError(f"the stand-by container of {self.pod_of[STAND_BY]} did "
                                    f"not start within {READY_SECONDS} s: kubectl -n "
                                    f"{self.namespace} describe pod {self.pod_of[STAND_BY]}")
            time.sleep(1.0)  # the cluster's progress: nothing to wait on but a poll

    def _apply(self, documents: list[dict[str, Any]]) -> None:
        self.kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(d) for d in documents))

    def configmap(self) -> dict[str, Any]:
        """The shipped code as a ConfigMap (keys cannot hold ``/``)."""
        data = {config_key(path): text for path, text in shipped_files().items()}
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "stress-code", "labels": labels("stress-code")},
                "data": data}

    def volume(self) -> dict[str, Any]:
        """The shared volume of the layout."""
        if self.placement.layout == "pod":
            return {"name": "shared", "emptyDir": {}}
        if self.placement.claim:
            return {"name": "shared", "persistentVolumeClaim": {"claimName": self.placement.claim}}
        return {"name": "shared", "hostPath": {"path": f"{HOST_PATH_ROOT}/{self.namespace}",
                                               "type": "DirectoryOrCreate"}}

    def pod(self, name: str, containers: list[dict[str, Any]], volume: dict[str, Any],
            node: str | None = None) -> dict[str, Any]:
        files = shipped_files()
        spec: dict[str, Any] = {
            "restartPolicy": "OnFailure",
            "terminationGracePeriodSeconds": 5,
            "containers": containers,
            "volumes": [volume, {"name": "code", "configMap": {
                "name": "stress-code", "defaultMode": 0o444,
                "items": [{"key": config_key(p), "path": p} for p in files]}}],
        }
        if self.placement.users:
            spec["securityContext"] = {"fsGroup": self.placement.group}
        if node is not None:
            spec["nodeName"] = node
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "labels": labels("stress-worker")},
                "spec": spec}

    def container(self, worker: WorkerContainer) -> dict[str, Any]:
        container = self._container(worker.name, worker.command)
        if worker.user is not None:
            container["securityContext"] = {"runAsUser": worker.user,
                                            "runAsGroup": self.placement.group}
        return container

    def stand_by(self) -> dict[str, Any]:
        """The container that prepares the volume and through which the harness reaches it;
        root, so that it can hand the volume's folders to the shared group."""
        group = ["--group", str(self.placement.group)] if self.placement.users else []
        container = self._container(STAND_BY, (*ENTRY, "stand-by", "--shared", SHARED_MOUNT,
                                               *group))
        if self.placement.users:
            container["securityContext"] = {"runAsUser": 0}
        return container

    def _container(self, name: str, command: tuple[str, ...]) -> dict[str, Any]:
        return {"name": name, "image": self.placement.image, "imagePullPolicy": "IfNotPresent",
                "command": list(command),
                "env": [{"name": k, "value": v} for k, v in ENVIRONMENT.items()],
                "volumeMounts": [{"name": "code", "mountPath": CODE_MOUNT, "readOnly": True},
                                 {"name": "shared", "mountPath": SHARED_MOUNT}]}

    def _exec(self, container: str, *command: str, check: bool = True
              ) -> subprocess.CompletedProcess[str]:
        return self.kubectl("exec", self.pod_of[container], "-c", container, "--", *command,
                            check=check)

    def kill(self, worker: WorkerContainer) -> NodeTime | None:
        done = self._exec(worker.name, *ENTRY, "kill", "--shared", SHARED_MOUNT, "--name",
                          worker.name, check=False)
        return killed_at(done)

    def node_clock(self) -> NodeTime:
        done = self._exec(STAND_BY, *ENTRY, "clock")
        found = node_time(done.stdout)
        if found is None:
            raise PlatformError(f"the node's clock could not be read: {done.stdout[:200]!r}")
        return found

    def touch(self, marker: str) -> None:
        self._exec(STAND_BY, *ENTRY, "touch", "--shared", SHARED_MOUNT, "--marker", marker)

    def status(self) -> Collected:
        return self._dump(names_only=True)

    def stop_workers(self) -> None:
        """Tell the workers to end (the stand-by container must stay up for the drain, so the
        Pod stays): they have ended by themselves, or, after a stop or a timeout, they end
        at their next look at the markers; the namespace goes at the end."""
        for marker in ("stop-producing", "producers-done"):
            self._exec(STAND_BY, *ENTRY, "touch", "--shared", SHARED_MOUNT, "--marker", marker,
                       check=False)

    def run_drain(self, command: tuple[str, ...]) -> None:
        self._exec(STAND_BY, *command)

    def collect(self) -> Collected:
        return self._dump(names_only=False)

    def _dump(self, names_only: bool) -> Collected:
        chosen = ["--names-only", "--heartbeat"] if names_only else []
        found = json.loads(self._exec(STAND_BY, *ENTRY, "dump", "--shared", SHARED_MOUNT,
                                      *chosen).stdout)
        return Collected(found["history"], found["finished"])

    def describe(self) -> dict[str, object]:
        return {"on": "kubernetes", "image": self.placement.image, "layout":
                self.placement.layout, "namespace": self.namespace}

    def remove(self) -> None:
        if self.placement.keep or not self.created:
            return
        if self.placement.layout == "pods" and not self.placement.claim:
            self._exec(STAND_BY, "python3", "-c", EMPTY_VOLUME, check=False)
        self.kubectl("delete", "namespace", self.namespace, "--wait=false", check=False)
