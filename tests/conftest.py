import functools

import pytest

from queue_core import FileQueue
from queue_core.storage import FORMATS

pytest_plugins = ["pytester"]


@pytest.fixture(params=sorted(FORMATS))
def queue_format(request):
    """Every storage format: each test that asks for it runs once per format."""
    return request.param


@pytest.fixture
def open_queue(queue_format):
    """``FileQueue`` in the format under test."""
    return functools.partial(FileQueue, format=queue_format)


@pytest.fixture
def queue_path(tmp_path):
    return tmp_path / "shared-queue" / "tasks.json"


@pytest.fixture
def queue(queue_path, open_queue):
    with open_queue(queue_path) as q:
        yield q


@pytest.fixture(scope="session", autouse=True)
def _remove_new_doorbells():
    """The doorbell FIFOs that this run's queues made in /dev/shm go with the run."""
    from queue_core import doorbell

    def bells():
        return set(doorbell.BELL_DIRECTORY.glob("filequeue-*.bell"))

    before = bells()
    yield
    for fifo in bells() - before:
        fifo.unlink(missing_ok=True)
