"""A queue directory the process may not write to is reported by name, as another user."""

import os
import subprocess
import sys
from pathlib import Path

import queue_core

UNWRITABLE_CHILD = """
import os, sys
from queue_core import FileQueue, QueueDirectoryError
if os.geteuid() == 0:  # root writes anywhere: become nobody to meet the permission check
    os.setgid(65534)
    os.setuid(65534)
try:
    FileQueue(sys.argv[1])
except QueueDirectoryError as error:
    print(error)
    sys.exit(3)
"""


def test_a_directory_that_cannot_be_written_is_reported_by_name(tmp_path):
    locked = tmp_path / "read-only"
    locked.mkdir()
    locked.chmod(0o555)
    tmp_path.chmod(0o755)
    package_root = Path(queue_core.__file__).parent.parent
    done = subprocess.run(
        [sys.executable, "-c", UNWRITABLE_CHILD, str(locked / "tasks.json")],
        capture_output=True, text=True, cwd=package_root,
        env={**os.environ, "PYTHONPATH": str(package_root)},
    )
    assert done.returncode == 3, done.stderr
    assert str(locked) in done.stdout
    assert "permission" in done.stdout
    assert list(locked.iterdir()) == []
