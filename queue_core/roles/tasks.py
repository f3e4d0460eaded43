"""The task model of the original system, and its default timings."""

from __future__ import annotations

import random
import re
from datetime import datetime
from typing import Any

TASK_TYPES = ("process_image", "send_email", "generate_report", "backup_data")

#: Seconds of simulated work per task type, as (low, high) of a uniform draw.
DEFAULT_WORK_TIMES: dict[str, tuple[float, float]] = {
    "process_image": (3.0, 8.0),
    "send_email": (1.0, 3.0),
    "generate_report": (5.0, 12.0),
    "backup_data": (8.0, 15.0),
}
#: Work time for a task whose type is not in the table.
DEFAULT_OTHER_WORK_TIME = (2.0, 5.0)

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def make_task(task_id: int, rng: random.Random, now: datetime | None = None) -> dict[str, Any]:
    """A task shaped like the original producer's: id, type, timestamp, data, priority."""
    return {
        "id": task_id,
        "type": rng.choice(TASK_TYPES),
        "timestamp": (now or datetime.now()).isoformat(),
        "data": f"task_data_{task_id}",
        "priority": rng.randint(1, 5),
    }


def work_seconds(
    task_type: str,
    rng: random.Random,
    work_times: dict[str, tuple[float, float]] = DEFAULT_WORK_TIMES,
    other: tuple[float, float] = DEFAULT_OTHER_WORK_TIME,
) -> float:
    """A random duration of simulated work for a task of ``task_type``."""
    low, high = work_times.get(task_type, other)
    return rng.uniform(low, high)


def task_problem(task: Any) -> str | None:
    """Why ``task`` cannot be processed, or ``None`` when it is a well-formed task."""
    if not isinstance(task, dict):
        return f"expected a JSON object, got {type(task).__name__}"
    task_id = task.get("id")
    if isinstance(task_id, bool) or not isinstance(task_id, int | str):
        return "its 'id' is missing or neither an integer nor a string"
    if not _SAFE_ID.fullmatch(str(task_id)):
        return f"its id {task_id!r} cannot be used in a file name"
    if not isinstance(task.get("type"), str):
        return "its 'type' is missing or not a string"
    return None


def result_file_name(task_id: int | str) -> str:
    """The name of the result file for a task: ``result_<id>.json``."""
    return f"result_{task_id}.json"
