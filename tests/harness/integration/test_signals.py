"""Signals to the harness itself: a real ``python -m harness`` stopped by SIGTERM or a Ctrl-C
leaves no process behind, no traceback, and a partial report of what it recorded."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)


def children_of(pid):
    """The process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid):
    """True if ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_stress(out, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "stress", "--producers", "8", "--consumers", "8",
         "--items", "10000000", "--seed", "3", "--out", str(out), "--quiet", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def recording(history):
    return lambda: history.exists() and history.stat().st_size > 200_000


@pytest.mark.parametrize(("send", "code"), [
    (lambda p: p.send_signal(signal.SIGTERM), 143),
    (lambda p: os.killpg(p.pid, signal.SIGINT), 130),  # a Ctrl-C reaches the whole group
], ids=["SIGTERM", "Ctrl-C"])
def test_a_stopped_stress_run_leaves_no_process_and_a_partial_report(tmp_path, send, code):
    out = tmp_path / "run"
    harness = start_stress(out, "--kill-every", "200")
    wait_for(recording(out / "history.jsonl"), 60, "the run to record operations")
    workers = children_of(harness.pid)
    assert len(workers) >= 16
    send(harness)
    stdout, stderr = harness.communicate(timeout=30)
    assert harness.returncode == code, stderr
    assert "Traceback" not in stderr + stdout
    wait_for(lambda: not any(map(alive, workers)), 5, "every worker to be gone")
    report = json.loads((out / "report.json").read_text())
    assert report["partial"] is True
    assert report["partial_reason"] == (
        "interrupted by SIGTERM" if code == 143 else "interrupted by SIGINT")
    assert report["verdict"] == "VALID"
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert report["counts"]["operations"] == len(history) > 2000
    reason = report["partial_reason"]
    verdicts = [line for line in stdout.splitlines() if line.startswith("verdict:")]
    assert verdicts == [f"verdict: VALID (partial: {reason}; the verdict is on the history "
                        "recorded until then)"], "one verdict line, and it says partial"
    assert "run failed" not in stdout and "\npartial:" not in stdout
    page = (out / "timeline.html").read_text()
    assert f"VALID (partial: {reason};" in page


def test_workers_die_with_a_harness_that_is_killed_outright(tmp_path):
    out = tmp_path / "run"
    harness = start_stress(out)
    wait_for(recording(out / "history.jsonl"), 60, "the run to record operations")
    workers = children_of(harness.pid)
    harness.kill()
    harness.communicate(timeout=30)
    wait_for(lambda: not any(map(alive, workers)), 5, "every worker to be gone")
    kept = (out / "history.jsonl").read_text().splitlines()
    assert len(kept) > 1000, "what was recorded before the harness died is on disk"
    assert all(json.loads(line)["type"] in ("ok", "fail") for line in kept)


def test_a_stopped_pod_stops_every_role(tmp_path):
    pod = subprocess.Popen(
        [sys.executable, "-m", "harness", "pod", "--duration", "60", "--time-scale", "0.01",
         "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = pod.stdout.readline()
    assert first.startswith("running the Pod's roles")
    assert pod.stdout.readline().startswith("monitor:")
    roles = children_of(pod.pid)
    assert len(roles) == 4
    pod.send_signal(signal.SIGTERM)
    stdout, stderr = pod.communicate(timeout=30)
    assert pod.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert not any(map(alive, roles))
    assert "verdict:" in stdout


def test_two_runs_started_at_once_with_default_folders_are_both_valid(tmp_path):
    command = [sys.executable, "-m", "harness", "stress", "--producers", "2", "--consumers",
               "2", "--items", "2000", "--quiet"]
    runs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=100)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    folders = sorted((tmp_path / "harness-runs").iterdir())
    assert len(folders) == 2
    for folder in folders:
        assert json.loads((folder / "report.json").read_text())["verdict"] == "VALID"


def test_a_closed_stdout_is_not_an_error(tmp_path):
    harness = subprocess.Popen(
        [sys.executable, "-m", "harness", "stress", "--producers", "2", "--consumers", "2",
         "--items", "500", "--out", str(tmp_path / "run")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert harness.stdout.readline().startswith("stress: seed")
    harness.stdout.close()  # as `| head -1` does
    assert harness.wait(timeout=60) == 0
    assert "Traceback" not in harness.stderr.read()
