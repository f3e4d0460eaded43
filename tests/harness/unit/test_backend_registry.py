"""The backend registry: built-in names, MODULE:FACTORY and installed entry points."""

import sys

import pytest

from harness.backends.protocol import missing_calls
from harness.backends.registry import BUILT_IN, available, resolve
from harness.errors import UnknownBackend

FAKE_QUEUE = '''
class ListQueue:
    """Enough of the protocol for at-most-once, in one process."""

    def __init__(self):
        self.items = []

    def put(self, item):
        self.items.append(item)

    def get(self):
        return self.items.pop(0) if self.items else None

    def size(self):
        return len(self.items)


def open_queue(directory, *, fsync, options):
    return ListQueue()
'''


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A module ``fakequeue`` and an installed distribution offering it as ``fake``."""
    (tmp_path / "fakequeue.py").write_text(FAKE_QUEUE)
    info = tmp_path / "fakepkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[filequeue_harness.backends]\nfake = fakequeue:open_queue\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("fakequeue", None)


def test_a_built_in_name_resolves_to_its_factory(tmp_path):
    spec = resolve("filequeue-json-array")
    assert spec.origin == "built-in"
    queue = spec.open(tmp_path)
    queue.put("a")
    assert queue.get() == "a"
    assert "at-least-once" in spec.probe()


def test_a_module_factory_is_found_on_the_path(fake_package, tmp_path):
    spec = resolve("fakequeue:open_queue")
    assert spec.origin == "module fakequeue"
    assert spec.probe() == ["at-most-once"]
    with pytest.raises(ValueError, match="has no claim/ack/nack"):
        spec.refuse_unless("at-least-once")


def test_an_installed_entry_point_is_found_and_listed(fake_package):
    spec = resolve("fake")
    assert spec.origin == "entry point of fakepkg 1.0"
    assert "fake" in {s.name for s in available()}


@pytest.mark.parametrize(("name", "problem"), [
    ("no-such-queue", "not built in"),
    ("no_such_module:open", "cannot import no_such_module"),
    ("harness.backends:no_such_factory", "has no no_such_factory"),
    ("harness.backends.registry:BUILT_IN", "is not callable"),
])
def test_an_unknown_backend_says_why(name, problem):
    with pytest.raises(UnknownBackend, match=problem):
        resolve(name)


def test_capabilities_come_from_what_the_object_has():
    class OnlyClaims:
        def put(self, item): ...
        def get(self): ...
        def size(self): ...
        def claim(self, lease): ...

    assert missing_calls(OnlyClaims(), "at-most-once") == []
    assert missing_calls(OnlyClaims(), "at-least-once") == ["ack", "nack"]
    assert set(BUILT_IN) >= {"filequeue", "mutant-reset-claims"}
