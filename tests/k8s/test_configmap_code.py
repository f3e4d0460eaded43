"""The files the ConfigMap ships run a role by themselves, in a bare interpreter."""

import json
import subprocess
import sys

import yaml

from k8s.render import render
from queue_core import FileQueue
from tests.support.machine import machine_environment


def test_the_shipped_files_alone_run_the_monitor_with_the_standard_library(tmp_path):
    manifest = {doc["kind"]: doc for doc in yaml.safe_load_all(render())}
    volume = next(v for v in manifest["Pod"]["spec"]["volumes"] if "configMap" in v)
    mount = tmp_path / "opt-queue"
    for item in volume["configMap"]["items"]:
        target = mount / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(manifest["ConfigMap"]["data"][item["key"]])
    mount.chmod(0o555)
    FileQueue(tmp_path / "q" / "tasks.json")  # the monitor only reads: the queue must exist
    env = {**machine_environment(), "PYTHONPATH": str(mount), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONNOUSERSITE": "1", "QUEUE_FILE": str(tmp_path / "q" / "tasks.json"),
           "RESULTS_DIR": str(tmp_path / "r")}
    done = subprocess.run([sys.executable, "-S", "-m", "queue_core.roles.monitor", "--once",
                           "--json"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["queue_size"] == 0
    assert not list(mount.rglob("__pycache__"))
