"""The workers as Docker containers on one engine: the queue's volume is a directory of this
machine bind-mounted into every container, the code a read-only directory beside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from ..incontainer import KILL_REFUSED, KILLING, SharedVolume
from .placement import CODE_MOUNT, ENTRY, ENVIRONMENT, SHARED_MOUNT, Placement, shipped_files
from .platform import Collected, PlatformError, WorkerContainer

#: Prints the image's Python version and fails if it is older than the workers need.
PYTHON_PROBE = ("import sys; print(sys.version.split()[0]); "
                "sys.exit(sys.version_info < (3, 11))")
#: Every container and volume the harness creates carries this label, with the run's name.
LABEL = "filequeue-harness.run"


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    """Run a docker command; its stdout (``PlatformError`` if it fails and ``check``)."""
    try:
        done = subprocess.run(["docker", *args], capture_output=True, text=True,
                              timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PlatformError(f"docker {' '.join(args[:2])}: {error}") from error
    if check and done.returncode != 0:
        raise PlatformError(f"docker {' '.join(args[:3])} failed: {done.stderr.strip()}")
    return done.stdout


def engine_answers() -> bool:
    """True when a Docker engine answers."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def image_present(image: str) -> bool:
    """True when ``image`` is in the engine's local store."""
    inspected = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
    return inspected.returncode == 0


class DockerPlatform:
    """A run's containers on the local Docker engine (``Platform``).

    Workers restart with ``--restart on-failure``, as a Pod's ``restartPolicy: OnFailure``
    does; a worker is killed from inside its container (``incontainer kill``), because Docker
    never restarts a container that ``docker kill`` stopped.
    """

    def __init__(self, placement: Placement, workdir: Path) -> None:
        self.placement = placement
        self.run_name = f"fqh-{uuid.uuid4().hex[:8]}"
        self.root = Path(tempfile.mkdtemp(prefix=f"{self.run_name}-", dir=workdir))
        self.code = self.root / "code"
        self.shared = SharedVolume(self.root / "shared")
        self.containers: dict[str, str] = {}

    def start(self, workers: list[WorkerContainer]) -> None:
        if not engine_answers():
            raise PlatformError("no Docker engine answers: install docker.io and start dockerd")
        if not image_present(self.placement.image):
            docker("pull", self.placement.image, timeout=600)
        self._refuse_unless_python()
        self._write_code()
        self._make_shared_volume()
        for worker in workers:
            self.containers[worker.name] = self._run(worker.name, worker.command, worker.user,
                                                     detach=True)

    def _refuse_unless_python(self) -> None:
        """``PlatformError`` unless the image runs ``python3`` 3.11 or newer."""
        probe = subprocess.run(["docker", "run", "--rm", self.placement.image, "python3", "-c",
                                PYTHON_PROBE], capture_output=True, text=True, timeout=300)
        if probe.returncode != 0:
            found = probe.stdout.strip() or (probe.stderr.strip().splitlines() or ["?"])[0]
            raise PlatformError(f"the image {self.placement.image} must run python3 3.11 or "
                                f"newer; it gave: {found[:300]}")

    def _write_code(self) -> None:
        for path, text in shipped_files().items():
            target = self.code / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            target.chmod(0o444)
        for directory in [self.code, *(p for p in self.code.rglob("*") if p.is_dir())]:
            directory.chmod(0o555)

    def _make_shared_volume(self) -> None:
        """The volume and its folders, writable by the group the workers share when they run
        as several users (the ``fsGroup`` of a Pod: group-owned, set-group-id)."""
        volume = self.shared
        folders = (volume.root, volume.queue, volume.history, volume.finished, volume.pids)
        for folder in folders:
            folder.mkdir()
            if self.placement.users:
                os.chown(folder, -1, self.placement.group)
                folder.chmod(0o2775)
        volume.heartbeat.touch()

    def _run(self, name: str, command: tuple[str, ...], user: int | None,
             detach: bool) -> str:
        container = f"{self.run_name}-{name}"
        args = ["run", "--name", container, "--label", f"{LABEL}={self.run_name}",
                "-v", f"{self.code}:{CODE_MOUNT}:ro", "-v", f"{self.shared.root}:{SHARED_MOUNT}"]
        args += ["-d", "--restart", "on-failure"] if detach else []
        for variable, value in ENVIRONMENT.items():
            args += ["-e", f"{variable}={value}"]
        if user is not None:
            args += ["--user", f"{user}:{self.placement.group}"]
        docker(*args, self.placement.image, *command, timeout=300)
        return container

    def kill(self, worker: WorkerContainer) -> bool:
        done = subprocess.run(
            ["docker", "exec", self.containers[worker.name], *ENTRY, "kill", "--shared",
             SHARED_MOUNT, "--name", worker.name],
            capture_output=True, text=True, timeout=60)
        return done.returncode == 0 or (done.returncode != KILL_REFUSED
                                        and done.stdout.startswith(KILLING))

    def touch(self, marker: str) -> None:
        (self.shared.root / marker).touch()

    def status(self) -> Collected:
        self.shared.heartbeat.touch()
        return Collected({path.name: "" for path in self.shared.history.iterdir()},
                         self._finished())

    def _finished(self) -> dict[str, int]:
        return {path.name: int(path.read_text() or "0")
                for path in self.shared.finished.iterdir()}

    def stop_workers(self) -> None:
        if self.containers:
            docker("rm", "-f", *self.containers.values(), check=False)

    def run_drain(self, command: tuple[str, ...]) -> None:
        self.containers["drain"] = self._run("drain", command, self.placement.user(0),
                                             detach=False)

    def collect(self) -> Collected:
        histories = {path.name: path.read_text(encoding="utf-8")
                     for path in sorted(self.shared.history.iterdir())}
        return Collected(histories, self._finished())

    def describe(self) -> dict[str, object]:
        return {"on": "docker", "image": self.placement.image, "run": self.run_name,
                "volume": str(self.shared.root)}

    def remove(self) -> None:
        if self.placement.keep:
            return
        self.stop_workers()
        shutil.rmtree(self.root, ignore_errors=True)
