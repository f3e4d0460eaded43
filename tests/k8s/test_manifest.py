"""The manifest: generated from the package, committed fresh, valid against the schema."""

import ast
import os
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

import queue_core
from k8s.__main__ import main as k8s_main
from k8s.render import CODE_MOUNT, GRACE_SECONDS, PodOptions, code_files, render

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "k8s" / "queue-communication.yaml"
KUBERNETES_VERSION = "1.31.0"


def documents(text):
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text)}


def containers(manifest):
    return {c["name"]: c for c in manifest["Pod"]["spec"]["containers"]}


def env_of(container):
    return {e["name"]: e["value"] for e in container["env"]}


def test_the_committed_manifest_is_a_fresh_render():
    assert COMMITTED.read_text() == render(), (
        "k8s/queue-communication.yaml is stale: run "
        "`python -m k8s render -o k8s/queue-communication.yaml` and commit it")


@pytest.mark.parametrize("options", [
    PodOptions(),
    PodOptions(consumers=5, time_scale=0.01, monitor_json=True, max_tasks=30,
               restart_policy="Never", namespace="queue-e2e", image="queue-python:bookworm"),
])
def test_every_rendered_manifest_validates_against_the_kubernetes_schema(options):
    for doc in yaml.safe_load_all(render(options)):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_pod():
    pod = documents(render())["Pod"]
    pod["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] = "yes"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)


def test_the_configmap_ships_every_package_file_unchanged_at_its_path():
    manifest = documents(render())
    data = manifest["ConfigMap"]["data"]
    volume = next(v for v in manifest["Pod"]["spec"]["volumes"] if "configMap" in v)
    items = {item["path"]: item["key"] for item in volume["configMap"]["items"]}
    package = Path(queue_core.__file__).parent
    on_disk = {p.relative_to(package.parent).as_posix() for p in package.rglob("*.py")}
    assert set(items) == on_disk
    for path, key in items.items():
        assert "/" not in key
        assert data[key] == (package.parent / path).read_text()


def test_the_pod_has_the_originals_containers_with_the_fixes():
    pod = documents(render())["Pod"]
    spec = pod["spec"]
    assert list(containers({"Pod": pod})) == ["producer", "consumer-1", "consumer-2", "monitor"]
    assert spec["terminationGracePeriodSeconds"] == GRACE_SECONDS >= 4
    worker_ids = set()
    for name, container in containers({"Pod": pod}).items():
        role = name.split("-")[0]
        assert container["image"] == "python:3.11-alpine"
        assert container["command"] == ["python", "-m", f"queue_core.roles.{role}"]
        env = env_of(container)
        assert env["PYTHONPATH"] == CODE_MOUNT
        assert env["PYTHONUNBUFFERED"] == env["PYTHONDONTWRITEBYTECODE"] == "1"
        assert env["QUEUE_FILE"] == "/shared-queue/tasks.json"
        assert container["resources"]["requests"] == {"memory": "32Mi", "cpu": "50m"}
        assert "limits" in container["resources"]
        code_mount = next(m for m in container["volumeMounts"] if m["name"] == "queue-code")
        assert code_mount == {"name": "queue-code", "mountPath": CODE_MOUNT, "readOnly": True}
        if role == "consumer":
            worker_ids.add(env["WORKER_ID"])
    assert worker_ids == {"consumer-1", "consumer-2"}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["shared-queue"] == {"name": "shared-queue", "emptyDir": {}}
    assert volumes["shared-results"] == {"name": "shared-results", "emptyDir": {}}
    for kind in ("Pod", "ConfigMap"):
        labels = documents(render())[kind]["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "queue-communication"
        assert labels["app.kubernetes.io/version"] == queue_core.__version__


def test_consumers_scale_and_test_options_reach_the_right_containers():
    manifest = documents(render(PodOptions(consumers=3, max_tasks=7, monitor_json=True)))
    found = containers(manifest)
    assert [n for n in found if n.startswith("consumer")] == [f"consumer-{i}" for i in (1, 2, 3)]
    assert env_of(found["producer"])["MAX_TASKS"] == "7"
    assert "MAX_TASKS" not in env_of(found["consumer-1"])
    assert env_of(found["monitor"])["MONITOR_JSON"] == "1"


def test_the_code_changes_the_pods_digest():
    files = code_files()
    from k8s.render import code_digest

    changed = dict(files)
    changed["queue_core/queue.py"] += "\n# a change\n"
    assert code_digest(files) != code_digest(changed)


def test_queue_core_imports_nothing_outside_the_standard_library():
    package = Path(queue_core.__file__).parent
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__", (path, name)


def test_render_cli_writes_a_file_and_refuses_bad_env(tmp_path, capsys):
    out = tmp_path / "m.yaml"
    assert k8s_main(["render", "--consumers", "3", "-o", str(out)]) == 0
    assert len(containers(documents(out.read_text()))) == 5
    with pytest.raises(SystemExit) as caught:
        k8s_main(["render", "--env", "NOEQUALS"])
    assert caught.value.code == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "flag", "reason"), [
    (["--namespace", "Bad_Name!"], "--namespace", "RFC 1123 label"),
    (["--namespace", "a" * 64], "--namespace", "no more than 63 characters"),
    (["--namespace", ""], "--namespace", "RFC 1123 label"),
    (["--namespace=queue-"], "--namespace", "RFC 1123 label"),
    (["--image", ""], "--image", "must not be empty"),
    (["--image", "python:3.11 "], "--image", "whitespace"),
    (["--env", "BAD KEY=1"], "--env", "environment variable name"),
    (["--env", "1ST=1"], "--env", "must not start with a digit"),
    (["--env", "A$B=1"], "--env", "environment variable name"),
    (["--env", "..HIDDEN=1"], "--env", "start with '..'"),
    (["--env", "NOEQUALS"], "--env", "expected KEY=VALUE"),
])
def test_render_refuses_what_kubernetes_would_refuse_in_one_line_and_writes_nothing(
        argv, flag, reason, tmp_path, capsys):
    out = tmp_path / "m.yaml"
    with pytest.raises(SystemExit) as caught:
        k8s_main(["render", *argv, "-o", str(out)])
    captured = capsys.readouterr()
    assert caught.value.code == 2
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert f"argument {flag}:" in line and reason in line
    assert not out.exists()


@pytest.mark.parametrize("name", ["MY_SETTING", "_x", "my.env-name", "MY_ENV.NAME", "a1", ".a"])
def test_render_accepts_every_environment_name_kubernetes_accepts(name, tmp_path):
    out = tmp_path / "m.yaml"
    assert k8s_main(["render", "--env", f"{name}=v=1", "-o", str(out)]) == 0
    for container in containers(documents(out.read_text())).values():
        assert env_of(container)[name] == "v=1"


@pytest.mark.parametrize("options", [
    {"namespace": "Bad_Name!"}, {"image": ""}, {"env": (("BAD KEY", "1"),)},
])
def test_pod_options_refuse_names_kubernetes_would_refuse(options):
    with pytest.raises(ValueError, match=next(iter(options))):
        PodOptions(**options)


@pytest.mark.parametrize("options", [PodOptions(), PodOptions(consumers=12, namespace="q-1")])
def test_every_rendered_name_is_a_dns_1123_name(options):
    from k8s.render import label_problem, subdomain_problem

    manifest = documents(render(options))
    for doc in manifest.values():
        assert subdomain_problem(doc["metadata"]["name"]) is None
        if "namespace" in doc["metadata"]:
            assert label_problem(doc["metadata"]["namespace"]) is None
    for name in containers(manifest):
        assert label_problem(name) is None
    for volume in manifest["Pod"]["spec"]["volumes"]:
        assert label_problem(volume["name"]) is None


def test_render_into_a_missing_folder_or_onto_a_folder_is_one_line_and_exit_2(tmp_path, capsys):
    for target, reason in ((tmp_path / "absent" / "m.yaml", "does not exist"),
                           (tmp_path, "is a directory")):
        assert k8s_main(["render", "-o", str(target)]) == 2
        captured = capsys.readouterr()
        [line] = captured.err.splitlines()
        assert str(target) in line and reason in line
        assert captured.out == ""
    assert list(tmp_path.iterdir()) == []


def test_render_into_a_closed_pipe_is_no_error(monkeypatch):
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w") as stdout:
        monkeypatch.setattr(sys, "stdout", stdout)
        assert k8s_main(["render"]) == 0
        monkeypatch.undo()
