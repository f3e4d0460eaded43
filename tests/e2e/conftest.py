"""A kind cluster for the e2e tests: pinned versions, a unique name, its own kubeconfig.

Overrides pytest-kind's ``kind_cluster`` fixture so that a missing kind, kubectl or Docker
engine skips the tests with a reason instead of downloading anything, and so that the kind
release and the node image are pinned (the plugin's default kind 0.17 cannot create current
clusters). The plugin's options still apply: ``--kind-bin``, ``--kind-image``,
``--kind-kubectl-bin``, ``--keep-cluster``.
"""

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from harness.containers.docker import engine_answers

#: The kind release these tests are written against, and its node image for Kubernetes 1.31.
KIND_VERSION = "v0.24.0"
KIND_NODE_IMAGE = "kindest/node:v1.31.0"


@pytest.fixture(scope="session")
def kind_cluster(request):
    """A fresh kind cluster, deleted at the end unless ``--keep-cluster``."""
    try:
        from pytest_kind.cluster import KindCluster
    except ImportError:
        pytest.skip("pytest-kind-ng is not installed: pip install -e '.[e2e]'")
    kind = request.config.getoption("kind_bin") or shutil.which("kind")
    if not kind:
        pytest.skip(f"kind is not installed: install kind {KIND_VERSION} or pass --kind-bin")
    kubectl = request.config.getoption("kind_kubectl_bin") or shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not installed: install it or pass --kind-kubectl-bin")
    if not engine_answers():
        pytest.skip("no Docker engine answers: install docker.io and start dockerd")
    version = subprocess.run([kind, "version"], capture_output=True, text=True).stdout
    print(f"kind: {version.strip()} (tests written for {KIND_VERSION})")
    cluster = KindCluster(
        f"queue-e2e-{uuid.uuid4().hex[:6]}",
        image=request.config.getoption("kind_image") or KIND_NODE_IMAGE,
        kind_path=Path(kind),
        kubectl_path=Path(kubectl),
    )
    cluster.create()
    try:
        yield cluster
    finally:
        if not request.config.getoption("keep_cluster"):
            cluster.delete()
