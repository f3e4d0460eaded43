"""The ``queue_stress`` fixture in a user's own suite (pytester): a correct toy queue passes,
a queue that drops every 100th item fails with the violation in the failure message."""

import pytest

pytestmark = pytest.mark.timeout(240)

TOY_QUEUES = '''
from queue_core import FileQueue


class DropsEvery100th:
    """A queue that loses one put in a hundred (per process)."""

    def __init__(self, queue):
        self.queue, self.puts = queue, 0

    def put(self, item):
        self.puts += 1
        if self.puts % 100:
            self.queue.put(item)

    def get(self):
        return self.queue.get()

    def size(self):
        return self.queue.size()


def open_correct(directory, *, fsync, options):
    return FileQueue(directory / "toy.json", fsync=fsync)


def open_lossy(directory, *, fsync, options):
    return DropsEvery100th(FileQueue(directory / "toy.json", fsync=fsync))
'''

USER_TESTS = '''
def test_my_queue_survives_kills(queue_stress):
    result = queue_stress("toyqueues:open_correct", producers=2, consumers=2,
                          items=2_000, kill_every_ms=50)
    assert result.valid, result.explain()
    assert result.timeline_path.exists() and result.counts["put_ok"] > 900


def test_the_lossy_queue(queue_stress):
    result = queue_stress("toyqueues:open_lossy", producers=2, consumers=2, items=2_000)
    assert result.valid, result.explain()
'''


def test_the_fixture_passes_a_correct_queue_and_explains_a_lossy_one(pytester):
    pytester.makepyfile(toyqueues=TOY_QUEUES, test_user=USER_TESTS)
    outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--queue-stress-scale",
                                            "0.5")
    outcome.assert_outcomes(passed=1, failed=1)
    text = outcome.stdout.str()
    assert "first violation: lost: put(w" in text
    assert "timeline: " in text and "rerun: python -m harness stress" in text
    assert "--items 1000 " in text, "the scale option reached the run"
