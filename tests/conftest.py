import pytest

from queue_core import FileQueue


@pytest.fixture
def queue_path(tmp_path):
    return tmp_path / "shared-queue" / "tasks.json"


@pytest.fixture
def queue(queue_path):
    with FileQueue(queue_path) as q:
        yield q
