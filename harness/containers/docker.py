"""The workers as Docker containers on one engine: the queue's volume is a directory of this
machine bind-mounted into every container, the code a read-only directory beside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from ..errors import PlatformError
from .inside import SharedVolume
from .placement import CODE_MOUNT, ENTRY, ENVIRONMENT, SHARED_MOUNT, Placement, shipped_files
from .platform import Collected, NodeTime, WorkerContainer, killed_at, node_time

#: Fails in one line unless the image's Python is new enough for the workers and can write
#: the file named by its argument.
PROBE = """
import sys
if sys.version_info < (3, 11):
    sys.exit(f"python3 {sys.version.split()[0]} is older than 3.11")
try:
    open(sys.argv[1], "w").close()
except OSError as error:
    sys.exit(f"cannot write the shared volume: {error}")
"""
#: Every container and volume the harness creates carries this label, with the run's name.
LABEL = "filequeue-harness.run"


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    """Run a docker command; its stdout (``PlatformError`` if it fails and ``check``). The
    command runs in a session of its own, so that a Ctrl-C meant for the harness does not cut
    it short (the harness stops the run itself)."""
    try:
        done = subprocess.run(["docker", *args], capture_output=True, text=True,
                              timeout=timeout, start_new_session=True)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PlatformError(f"docker {' '.join(args[:2])}: {error}") from error
    if check and done.returncode != 0:
        raise PlatformError(f"docker {' '.join(args[:3])} failed: "
                            f"{(done.stderr.strip().splitlines() or ['?'])[0]}")
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

    poll_seconds = 0.2

    def __init__(self, placement: Placement, workdir: Path) -> None:
        self.placement = placement
        self.run_name = f"fqh-{uuid.uuid4().hex[:8]}"
        # Absolute: docker run -v takes a relative path for a volume's name.
        self.root = Path(tempfile.mkdtemp(prefix=f"{self.run_name}-", dir=workdir)).resolve()
        self.code = self.root / "code"
        self.shared = SharedVolume(self.root / "shared")
        self.containers: dict[str, str] = {}

    def start(self, workers: list[WorkerContainer]) -> None:
        if not engine_answers():
            raise PlatformError("no Docker engine answers: install docker.io and start dockerd")
        if not image_present(self.placement.image):
            docker("pull", self.placement.image, timeout=600)
        self._write_code()
        self._make_shared_volume()
        for user in dict.fromkeys(self.placement.users or [None]):
            self._probe(user)
        for worker in workers:
            self._run(worker.name, worker.command, worker.user, detach=True)
            self.shared.heartbeat.touch()

    def _probe(self, user: int | None) -> None:
        """``PlatformError`` unless the image runs ``python3`` 3.11 or newer as ``user`` and
        can write the shared volume, and the engine mounts this machine's folder (not a
        folder of the same name on another machine)."""
        mark = self.shared.root / f".probe-{os.getpid()}"
        command = ("python3", "-c", PROBE, f"{SHARED_MOUNT}/{mark.name}")
        try:
            self._run(f"probe-{user}", command, user, detach=False)
        except PlatformError as error:
            who = "" if user is None else f" as user {user}"
            raise PlatformError(f"the image {self.placement.image} cannot run the workers{who}: "
                                f"{str(error).split('failed: ', 1)[-1]}") from error
        if not mark.exists():
            raise PlatformError(f"the Docker engine does not see {self.shared.root}: it must "
                                "run on this machine (not a remote DOCKER_HOST)")
        mark.unlink()

    def _write_code(self) -> None:
        for path, text in shipped_files().items():
            target = self.code / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            target.chmod(0o444)
        for directory in [self.code, *(p for p in self.code.rglob("*") if p.is_dir())]:
            directory.chmod(0o555)

    def _make_shared_volume(self) -> None:
        """The volume and its folders: group-owned, group-writable and set-group-id when the
        workers run as several users (the ``fsGroup`` of a Pod), writable by all otherwise
        (the image's user is not known)."""
        volume = self.shared
        folders = (volume.root, volume.queue, volume.history, volume.finished, volume.pids)
        for folder in folders:
            folder.mkdir()
            if self.placement.users:
                os.chown(folder, -1, self.placement.group)
                folder.chmod(0o2775)
            else:
                folder.chmod(0o777)
        volume.heartbeat.touch()

    def _run(self, name: str, command: tuple[str, ...], user: int | None,
             detach: bool) -> str:
        container = self.containers[name] = f"{self.run_name}-{name}"  # before it exists
        args = ["run", "--name", container, "--label", f"{LABEL}={self.run_name}",
                "-v", f"{self.code}:{CODE_MOUNT}:ro", "-v", f"{self.shared.root}:{SHARED_MOUNT}"]
        args += ["-d", "--restart", "on-failure"] if detach else ["--rm"]
        for variable, value in ENVIRONMENT.items():
            args += ["-e", f"{variable}={value}"]
        if user is not None:
            args += ["--user", f"{user}:{self.placement.group}"]
        return docker(*args, self.placement.image, *command, timeout=300)

    def kill(self, worker: WorkerContainer) -> NodeTime | None:
        try:
            done = subprocess.run(
                ["docker", "exec", self.containers[worker.name], *ENTRY, "kill", "--shared",
                 SHARED_MOUNT, "--name", worker.name],
                capture_output=True, text=True, timeout=60, start_new_session=True)
        except subprocess.TimeoutExpired:
            return None
        return killed_at(done)

    def node_clock(self) -> NodeTime:
        printed = self._run("clock", (*ENTRY, "clock"), self.placement.user(0), detach=False)
        found = node_time(printed)
        if found is None:
            raise PlatformError(f"the node's clock could not be read: {printed[:200]!r}")
        return found

    def touch(self, marker: str) -> None:
        (self.shared.root / marker).touch()

    def status(self) -> Collected:
        self.shared.heartbeat.touch()
        return Collected(self.shared.histories(names_only=True), self.shared.finished_codes())

    def stop_workers(self) -> None:
        """Remove the worker containers; with ``--keep``, stop them for good instead."""
        names = list(self.containers.values())
        if not names:
            return
        if self.placement.keep:
            docker("update", "--restart", "no", *names, check=False)
            docker("kill", *names, check=False)
        else:
            docker("rm", "-f", *names, check=False)

    def run_drain(self, command: tuple[str, ...]) -> None:
        self._run("drain", command, self.placement.user(0), detach=False)

    def collect(self) -> Collected:
        return Collected(self.shared.histories(), self.shared.finished_codes())

    def describe(self) -> dict[str, object]:
        return {"on": "docker", "image": self.placement.image, "run": self.run_name,
                "volume": str(self.shared.root)}

    def remove(self) -> None:
        if self.placement.keep:
            return
        self.stop_workers()
        if self.code.exists():
            for directory in (self.code, *(p for p in self.code.rglob("*") if p.is_dir())):
                directory.chmod(0o755)  # a harness that is not root must empty them
        shutil.rmtree(self.root, ignore_errors=True)
