"""The harness's in-container side, run here as plain processes from a copy of the shipped
files alone: what a container gets from the ConfigMap is enough, a killed worker leaves a
history the harness can read, and a restarted one goes on with its quota."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.containers.inside import SharedVolume
from harness.containers.placement import shipped_files
from harness.containers.platform import Collected
from tests.support.machine import machine_environment
from tests.support.waiting import wait_for


@pytest.fixture
def shipped(tmp_path):
    """The shipped files in a folder of their own, as the ConfigMap mounts them."""
    root = tmp_path / "code"
    for path, text in shipped_files().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def isolated(code, *args, prefix=(), **popen):
    """Run ``python -m harness.containers.inside ARGS`` with only the standard library and
    ``code`` (after the command ``prefix``, such as an ``unshare``)."""
    env = {**machine_environment(), "PYTHONPATH": str(code), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen([*prefix, sys.executable, "-S", "-m", "harness.containers.inside",
                             *args], env=env, cwd=code, **popen)


def test_the_shipped_files_import_with_the_standard_library_alone(shipped):
    probe = ("import sys, harness.containers.inside; "
             "print([m for m in sys.modules if m.split('.')[0] not in sys.stdlib_module_names "
             "and m.split('.')[0] not in ('harness', 'queue_core', '__main__')])")
    env = {**machine_environment(), "PYTHONPATH": str(shipped)}
    done = subprocess.run([sys.executable, "-S", "-c", probe], env=env, cwd=shipped,
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def worker_args(shared, name, role, quota=0, *extra):
    slot = int(name.rsplit("-", 1)[1]) - 1
    return ["worker", "--shared", str(shared), "--name", name, "--role", role,
            "--slot", str(slot), "--quota", str(quota), *extra]


def test_a_killed_worker_ends_its_container_for_a_restart_and_the_next_start_goes_on(
        shipped, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    volume = SharedVolume(shared)
    volume.go.touch()
    first = isolated(shipped, *worker_args(shared, "producer-1", "producer", 60, "--rate", "20"))
    history = volume.history / "producer-1.0.jsonl"
    wait_for(lambda: history.exists() and volume.puts_begun("producer-1", 1) >= 3, 30,
             "three puts")
    killer = isolated(shipped, "kill", "--shared", str(shared), "--name", "producer-1",
                      stdout=subprocess.PIPE, text=True)
    assert killer.wait(timeout=30) == 0
    assert killer.stdout.read().startswith("killing")
    assert first.wait(timeout=30) == 128 + signal.SIGKILL, "the restart policy must see a kill"
    assert not (volume.finished / "producer-1").exists()
    begun_before = volume.puts_begun("producer-1", 1)

    restarted = isolated(shipped, *worker_args(shared, "producer-1", "producer", 60))
    assert restarted.wait(timeout=60) == 0
    assert (volume.finished / "producer-1").read_text() == "0"
    assert volume.puts_begun("producer-1", 2) == 60, "the quota goes on, nothing put twice"
    assert volume.puts_begun("producer-1", 2) - begun_before > 0
    values = [json.loads(line)[3] for start in (0, 1)
              for line in (volume.history / f"producer-1.{start}.jsonl").read_text().splitlines()
              if line.startswith('["I", "put"')]
    assert len(set(values)) == 60 and values[0].startswith("wproducer-1.0:")
    assert values[-1].startswith("wproducer-1.1:")


def test_a_worker_that_fails_ends_its_container_for_good_with_its_code(shipped, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "go").touch()
    (shared / "queue").mkdir()
    (shared / "queue" / "tasks.json").write_text("not a queue")
    keeper = isolated(shipped, *worker_args(shared, "consumer-1", "consumer"))
    assert keeper.wait(timeout=60) == 0, "a failed worker is not restarted"
    assert (shared / "finished" / "consumer-1").read_text() == "3"


def test_the_drain_and_the_dump_read_the_volume_back(shipped, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "go").touch()
    (shared / "producers-done").touch()
    producer = isolated(shipped, *worker_args(shared, "producer-1", "producer", 5))
    assert producer.wait(timeout=60) == 0
    drain = isolated(shipped, "drain", "--shared", str(shared), "--limit", "100")
    assert drain.wait(timeout=60) == 0
    dump = isolated(shipped, "dump", "--shared", str(shared), stdout=subprocess.PIPE, text=True)
    found = json.loads(dump.communicate(timeout=60)[0])
    assert found["finished"] == {"producer-1": 0}
    drained = [json.loads(line) for line in found["history"]["drain.jsonl"].splitlines()]
    assert [r["value"] for r in drained if r["op"] == "get" and r["value"]] == [
        f"wproducer-1.0:{n}" for n in range(5)]
    assert drained[-2]["op"] == "drained"


def test_a_stopped_container_ends_at_once_for_its_grace_period(shipped, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "go").touch()
    keeper = isolated(shipped, *worker_args(shared, "consumer-1", "consumer", 0,
                                            "--block", "0.1"))
    history = shared / "history" / "consumer-1.0.jsonl"
    wait_for(lambda: history.exists() and history.stat().st_size > 0, 30, "the first take")
    keeper.send_signal(signal.SIGTERM)
    assert keeper.wait(timeout=5) == 128 + signal.SIGTERM
    assert not (shared / "finished" / "consumer-1").exists(), "stopped, not finished"


def test_workers_left_behind_by_a_dead_harness_end_by_themselves(shipped, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    heartbeat = shared / "heartbeat"
    heartbeat.touch()
    long_ago = time.time() - 3600
    os.utime(heartbeat, (long_ago, long_ago))  # the harness stopped touching it an hour ago
    waiting = isolated(shipped, *worker_args(shared, "consumer-1", "consumer"))
    assert waiting.wait(timeout=30) == 0, "a worker waiting for a go that never comes ends"
    (shared / "go").touch()
    consumer = isolated(shipped, *worker_args(shared, "consumer-2", "consumer", 0,
                                              "--block", "0.05"))
    producer = isolated(shipped, *worker_args(shared, "producer-1", "producer", 10**6))
    assert consumer.wait(timeout=30) == 0 and producer.wait(timeout=30) == 0
    assert (shared / "finished" / "consumer-2").read_text() == "0"
    assert SharedVolume(shared).puts_begun("producer-1", 1) < 10**6


HOURS_AHEAD = 3 * 3600


def time_namespaces_work():
    try:
        return os.geteuid() == 0 and subprocess.run(
            ["unshare", "--time", "--fork", "true"], capture_output=True).returncode == 0
    except OSError:
        return False


@pytest.mark.skipif(not time_namespaces_work(), reason="needs root and util-linux unshare "
                    "--time (Linux 5.6 or newer) for a monotonic clock of its own")
def test_a_worker_on_a_clock_hours_ahead_is_killed_and_recorded_on_its_own_clock(
        shipped, tmp_path):
    from harness.containers.platform import killed_at
    from harness.containers.run import history_of
    from harness.history.recorder import clock_domain, records_from_lines

    shared = tmp_path / "shared"
    shared.mkdir()
    volume = SharedVolume(shared)
    volume.go.touch()
    node = ["unshare", "--time", f"--monotonic={HOURS_AHEAD}", "--fork"]
    worker = isolated(shipped, *worker_args(shared, "producer-1", "producer", 500, "--rate",
                                            "50"), prefix=node)
    history = volume.history / "producer-1.0.jsonl"
    wait_for(lambda: history.exists() and volume.puts_begun("producer-1", 1) >= 3, 30,
             "three puts")
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children")
    keeper = int(children.read_text().split()[0])  # unshare's child: the keeper
    # As `docker exec` does: the kill runs in the worker's namespaces, so on its clock.
    killer = isolated(shipped, "kill", "--shared", str(shared), "--name", "producer-1",
                      stdout=subprocess.PIPE, text=True,
                      prefix=["nsenter", "--time", f"--target={keeper}"])
    assert killer.wait(timeout=30) == 0
    done = subprocess.CompletedProcess([], 0, killer.stdout.read(), "")
    worker.wait(timeout=30)
    killed = killed_at(done)
    assert killed is not None and killed.clock != clock_domain(), "the node's own clock"
    records = records_from_lines("producer-1.0", history.read_text().splitlines())
    assert {r["clock"] for r in records} == {killed.clock}
    assert 0 < killed.ns - records[-1]["call"] < 60 * 10**9, "the kill on the worker's clock"
    assert abs(killed.ns - time.monotonic_ns()) > 60 * 10**9, "not on the harness's clock"
    merged = history_of(Collected({history.name: history.read_text()}, {}),
                        {"producer-1": [killed]}, stopped_at=None)
    assert all(r["return"] is not None and r["return"] >= r["call"] for r in merged), (
        "a crashed operation ends at the kill, on the clock its call was read on")
    assert [r["call"] for r in merged if r["op"] == "killed"] == [killed.ns]
