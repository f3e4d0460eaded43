"""A stand-in for ``kubectl`` that runs Pods as Docker containers: enough of its commands for
``harness.containers.kubernetes`` to be tested where no cluster is.

Handles ``create namespace``, ``apply -f -`` (ConfigMaps and Pods as JSON), ``exec``, ``get pod
NAME -o jsonpath={.spec.nodeName}`` and ``delete namespace``. A Pod's containers are Docker
containers named ``fk-NAMESPACE-POD-CONTAINER``; an ``emptyDir`` is a folder shared by the
containers of its Pod, a ``hostPath`` a folder shared by every Pod, a ConfigMap's items files
mounted read-only; ``restartPolicy`` becomes Docker's restart policy, ``runAsUser`` and
``runAsGroup`` its ``--user``, ``fsGroup`` a group-owned, set-group-id volume. State lives under
``$FAKE_KUBECTL_STATE``.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

STATE = Path(os.environ["FAKE_KUBECTL_STATE"])
NODE = "fake-node"
RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no"}


def docker(*args, check=True):
    done = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        sys.exit(f"fake kubectl: docker {' '.join(args[:2])}: {done.stderr.strip()}")
    return done


def apply(namespace, text):
    for document in text.split("\n---\n"):
        thing = json.loads(document)
        name = thing["metadata"]["name"]
        if thing["kind"] == "ConfigMap":
            (STATE / namespace / "configmaps" / f"{name}.json").write_text(json.dumps(thing))
        else:
            run_pod(namespace, name, thing["spec"])


def volume_folder(namespace, pod, volume, fs_group):
    if "emptyDir" in volume:
        folder = STATE / namespace / "pods" / pod / volume["name"]
    elif "hostPath" in volume:
        folder = STATE / "hostpath" / volume["hostPath"]["path"].lstrip("/")
    else:
        source = json.loads((STATE / namespace / "configmaps"
                             / f"{volume['configMap']['name']}.json").read_text())
        folder = STATE / namespace / "pods" / pod / volume["name"]
        for item in volume["configMap"]["items"]:
            target = folder / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source["data"][item["key"]])
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    if fs_group is not None and "emptyDir" in volume:
        os.chown(folder, -1, fs_group)
        folder.chmod(0o2777)
    return folder


def run_pod(namespace, pod, spec):
    fs_group = spec.get("securityContext", {}).get("fsGroup")
    folders = {v["name"]: volume_folder(namespace, pod, v, fs_group) for v in spec["volumes"]}
    for container in spec["containers"]:
        args = ["run", "-d", "--name", f"fk-{namespace}-{pod}-{container['name']}",
                "--label", f"fake-kubectl={namespace}",
                "--restart", RESTART[spec.get("restartPolicy", "Always")]]
        for mount in container["volumeMounts"]:
            read_only = ":ro" if mount.get("readOnly") else ""
            args += ["-v", f"{folders[mount['name']]}:{mount['mountPath']}{read_only}"]
        for variable in container.get("env", []):
            args += ["-e", f"{variable['name']}={variable['value']}"]
        security = container.get("securityContext", {})
        if "runAsUser" in security:
            args += ["--user", f"{security['runAsUser']}:{security.get('runAsGroup', 0)}"]
        if fs_group is not None:
            args += ["--group-add", str(fs_group)]
        docker(*args, container["image"], *container["command"])


def main(argv):
    namespace = argv[argv.index("-n") + 1]
    rest = argv[argv.index("-n") + 2:]
    if rest[:2] == ["create", "namespace"]:
        (STATE / namespace / "configmaps").mkdir(parents=True)
    elif rest[:2] == ["apply", "-f"]:
        apply(namespace, sys.stdin.read())
    elif rest[0] == "exec":
        pod, container, command = rest[1], rest[rest.index("-c") + 1], rest[rest.index("--") + 1:]
        done = docker("exec", f"fk-{namespace}-{pod}-{container}", *command, check=False)
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        return done.returncode
    elif rest[:2] == ["get", "pod"]:
        print(NODE)
    elif rest[:2] == ["delete", "namespace"]:
        names = docker("ps", "-aq", "--filter", f"label=fake-kubectl={namespace}").stdout.split()
        if names:
            docker("rm", "-f", *names)
        shutil.rmtree(STATE / namespace, ignore_errors=True)
    else:
        sys.exit(f"fake kubectl: not handled: {' '.join(rest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
