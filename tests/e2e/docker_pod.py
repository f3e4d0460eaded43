"""Run a rendered Pod's containers with Docker, as the kubelet would: a test double for kind."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from harness.containers.docker import docker


class DockerPod:
    """The containers of one Pod manifest as Docker containers.

    Same image, command and environment; ConfigMap items written to files and bind-mounted
    read-only at their mount path; each emptyDir a Docker volume shared by the containers that
    mount it; the Pod's name as every container's host name, as in a Pod.
    """

    def __init__(self, documents: list[dict[str, Any]]) -> None:
        by_kind = {doc["kind"]: doc for doc in documents}
        self.pod = by_kind["Pod"]
        self.configmaps = {d["metadata"]["name"]: d for d in documents if d["kind"] == "ConfigMap"}
        self.prefix = f"qc-{uuid.uuid4().hex[:8]}"
        self.code_dirs: list[Path] = []
        self.volumes: dict[str, str] = {}
        self.containers: dict[str, str] = {}

    def start(self) -> None:
        """Create the volumes and start every container."""
        sources: dict[str, str] = {}
        for volume in self.pod["spec"]["volumes"]:
            if "configMap" in volume:
                sources[volume["name"]] = str(self._write_configmap(volume["configMap"]))
            elif "emptyDir" in volume:
                name = f"{self.prefix}-{volume['name']}"
                docker("volume", "create", name)
                self.volumes[volume["name"]] = name
                sources[volume["name"]] = name
        for container in self.pod["spec"]["containers"]:
            self._run(container, sources)

    def _write_configmap(self, source: dict[str, Any]) -> Path:
        data = self.configmaps[source["name"]]["data"]
        root = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-code-"))
        for item in source["items"]:
            target = root / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(data[item["key"]])
            target.chmod(source.get("defaultMode", 0o644))
        root.chmod(0o755)
        self.code_dirs.append(root)
        return root

    def _run(self, container: dict[str, Any], sources: dict[str, str]) -> None:
        name = f"{self.prefix}-{container['name']}"
        args = ["run", "-d", "--name", name, "--hostname", self.pod["metadata"]["name"]]
        for mount in container.get("volumeMounts", []):
            spec = f"{sources[mount['name']]}:{mount['mountPath']}"
            args += ["-v", spec + (":ro" if mount.get("readOnly") else "")]
        for variable in container.get("env", []):
            args += ["-e", f"{variable['name']}={variable['value']}"]
        args += [container["image"], *container["command"]]
        docker(*args)
        self.containers[container["name"]] = name

    def logs(self, container: str) -> str:
        """Everything the container printed so far."""
        done = subprocess.run(["docker", "logs", self.containers[container]],
                              capture_output=True, text=True, timeout=60)
        return done.stdout + done.stderr

    def follow(self, container: str) -> subprocess.Popen[str]:
        """A process whose stdout streams the container's output as it comes."""
        return subprocess.Popen(["docker", "logs", "-f", self.containers[container]],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def exec(self, container: str, *command: str) -> str:
        """Run a command in a running container; its stdout."""
        return docker("exec", self.containers[container], *command)

    def hostname(self, container: str) -> str:
        """The host name the container runs with."""
        return docker("inspect", "-f", "{{.Config.Hostname}}", self.containers[container]).strip()

    def stop(self, container: str, grace: int) -> tuple[int, float]:
        """``docker stop`` with the Pod's grace period; the exit code and the seconds it took."""
        began = time.monotonic()
        docker("stop", "-t", str(grace), self.containers[container], timeout=grace + 30)
        elapsed = time.monotonic() - began
        code = docker("inspect", "-f", "{{.State.ExitCode}}", self.containers[container])
        return int(code.strip()), elapsed

    def remove(self) -> None:
        """Remove the containers, the volumes and the code files, whatever state they are in."""
        for name in self.containers.values():
            docker("rm", "-f", name, check=False)
        for name in self.volumes.values():
            docker("volume", "rm", "-f", name, check=False)
        for root in self.code_dirs:
            shutil.rmtree(root, ignore_errors=True)
