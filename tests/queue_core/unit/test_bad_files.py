"""A file that is not a JSON array, or a directory that cannot be used: clear errors, no loss."""

import os

import pytest

from queue_core import CorruptQueueError, FileQueue, QueueDirectoryError, QueueError

CORRUPT_CONTENTS = {
    "empty": (b"", "empty"),
    "blank": (b"  \n", "empty"),
    "truncated": (b'[{"id": 1}, {"id": 2', "not valid JSON"),
    "garbage": (b"\x00\xffnot json at all", "not valid JSON"),
    "object": (b'{"id": 1}', "JSON object, not a JSON array"),
    "number": (b"42", "JSON number, not a JSON array"),
    "null": (b"null", "JSON null, not a JSON array"),
}


@pytest.fixture(params=sorted(CORRUPT_CONTENTS))
def corrupt_file(request, queue_path):
    """A file no format can read (each is tried in both)."""
    content, problem = CORRUPT_CONTENTS[request.param]
    queue_path.parent.mkdir(parents=True)
    queue_path.write_bytes(content)
    return queue_path, content, problem


def test_opening_a_corrupt_file_raises_and_leaves_it_as_it_was(corrupt_file, queue_format):
    path, content, problem = corrupt_file
    if queue_format != "json-array":
        problem = "is corrupt"
    with pytest.raises(CorruptQueueError, match=problem) as caught:
        FileQueue(path, format=queue_format)
    assert str(path) in str(caught.value)
    assert caught.value.path == path
    assert path.read_bytes() == content


@pytest.mark.parametrize("operation", ["put", "get", "size"])
def test_a_file_replaced_by_garbage_after_opening_raises_on_every_operation(
    corrupt_file, operation, queue_format
):
    path, content, problem = corrupt_file
    path.unlink()
    queue = FileQueue(path, format=queue_format)
    garbage = path.with_name("garbage")
    garbage.write_bytes(content)
    os.replace(garbage, path)
    call = {"put": lambda: queue.put("x"), "get": queue.get, "size": queue.size}[operation]
    if queue_format != "json-array":
        problem = "is corrupt"
    with pytest.raises(CorruptQueueError, match=problem):
        call()
    assert path.read_bytes() == content


def test_corrupt_queue_error_is_a_queue_error():
    assert issubclass(CorruptQueueError, QueueError)
    assert issubclass(QueueDirectoryError, QueueError)


def test_a_parent_that_is_a_file_is_reported_by_name(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(QueueDirectoryError, match="not-a-dir"):
        FileQueue(blocker / "tasks.json")


def test_a_file_deeper_in_the_path_is_reported_by_name(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(QueueDirectoryError, match=r"not-a-dir/sub.*not a directory"):
        FileQueue(blocker / "sub" / "tasks.json")
    assert blocker.read_text() == ""
