"""What the harness's commands show and where they write: progress lines, run folders."""

import io

from harness.reporting.console import new_run_directory
from harness.stress import progress as output
from harness.stress.progress import Advance, ProgressLine, describe_progress
from harness.stress.schedule import Choices
from harness.stress.supervisor import Worker


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_off_a_terminal_progress_is_a_plain_line_every_ten_seconds(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(output.time, "monotonic", clock)
    stream = io.StringIO()
    progress = ProgressLine(1000, stream=stream)
    for second in range(1, 26):
        clock.now = 100.0 + second
        progress(Advance(operations=2 * second, taken=40 * second, kills=second, violations=0))
    lines = stream.getvalue().splitlines()
    assert lines == [
        "400/1000 items (40%), 40 items/s, 10 kills, 0 violations so far, ETA 15 s",
        "800/1000 items (80%), 40 items/s, 20 kills, 0 violations so far, ETA 5 s",
    ]


def test_quiet_progress_prints_nothing(monkeypatch):
    stream = io.StringIO()
    progress = ProgressLine(10, stream=stream, quiet=True)
    monkeypatch.setattr(output, "PLAIN_PROGRESS_EVERY", 0.0)
    progress(Advance(1, 1, 0, 0))
    progress.close()
    assert stream.getvalue() == ""


def test_progress_before_anything_moved_has_no_eta():
    assert describe_progress(Advance(0, 0, 0, 0), 50, 1.0).endswith("ETA ?")
    assert describe_progress(Advance(9, 50, 0, 0), 50, 1.0).endswith("ETA 0 s")


def test_run_folders_started_in_the_same_second_differ(tmp_path):
    folders = {new_run_directory(tmp_path) for _ in range(50)}
    assert len(folders) == 50
    assert all(folder.is_dir() and folder.parent == tmp_path for folder in folders)


def test_one_seed_draws_the_same_kills_and_worker_seeds():
    slots = [("consumer", 0), ("consumer", 1), ("producer", 0)]
    workers = [Worker(role, slot, n, None) for n, (role, slot) in enumerate(slots)]

    def draws(seed):
        choices = Choices(seed)
        return ([choices.kill_gap(0.05) for _ in range(20)],
                [choices.victim(slots, workers)[0] for _ in range(20)],
                [choices.worker_seed("consumer", 1, g) for g in range(3)])

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)


def test_a_drawn_slot_without_a_worker_passes_the_kill_to_the_next_slot():
    slots = [("consumer", 0), ("consumer", 1)]
    only = Worker("consumer", 1, 9, None)
    for _ in range(10):
        drawn, victim = Choices(3).victim(slots, [only])
        assert victim is only and drawn in slots
    assert Choices(3).victim(slots, [])[1] is None
