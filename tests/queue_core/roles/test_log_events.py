"""The log lines other programs parse: each role writes them through its ``LogEvent``."""

import logging
import random

import pytest

from queue_core.contracts import TASK_COMPLETED, TASK_PUT, LogEvent
from queue_core.roles.consumer import consume
from queue_core.roles.lifecycle import Lifecycle
from queue_core.roles.producer import produce
from queue_core.roles.sequence import IdSequence


def _lines(caplog, logger):
    return [r.getMessage() for r in caplog.records if r.name == logger]


def test_the_producer_announces_every_task_it_puts_as_the_checks_read_it(queue, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    produce(queue, IdSequence(tmp_path / "ids"), Lifecycle(), random.Random(1),
            interval=(0, 0), time_scale=1.0, max_tasks=4)
    lines = _lines(caplog, "queue_core.roles.producer")
    assert TASK_PUT.find_all("\n".join(lines), "id") == ["1", "2", "3", "4"]


@pytest.mark.parametrize("delivery", ["at-least-once", "at-most-once"])
def test_the_consumer_announces_every_task_it_completes_as_the_checks_read_it(
        queue, tmp_path, caplog, delivery):
    caplog.set_level(logging.INFO)
    for n in (7, 8):
        queue.put({"id": n, "type": "send_email"})
    consume(queue, Lifecycle(), random.Random(1), results_dir=tmp_path / "results",
            worker="w", work_times={"send_email": (0, 0)}, max_tasks=2, delivery=delivery)
    lines = _lines(caplog, "queue_core.roles.consumer")
    assert TASK_COMPLETED.find_all("\n".join(lines), "id") == ["7", "8"]


def test_an_event_is_read_back_from_a_line_with_a_log_prefix():
    line = "2026-01-01 10:00:00,000 INFO producer: " + TASK_PUT.format(
        id=12, type="send_email", priority=3)
    assert TASK_PUT.parse(line) == {"id": "12", "type": "send_email", "priority": "3"}


def test_a_line_that_only_looks_like_an_event_is_not_one():
    event = LogEvent("completed task id={id}")
    assert event.parse("uncompleted task id=4") is None
    assert event.parse("completed task id=") is None
    assert event.parse("completed task ids=4") is None
    assert event.find_all("completed task id=4\nnothing\ncompleted task id=5 (late)", "id") == [
        "4", "5"]


def test_an_event_made_here_formats_and_parses_its_fields():
    event = LogEvent("moved item={item} to {place}")
    assert event.template == "moved item={item} to {place}"
    assert event.fields == ["item", "place"]
    line = event.format(item=7, place="dead-letters")
    assert line == "moved item=7 to dead-letters"
    assert event.parse(f"INFO: {line}") == {"item": "7", "place": "dead-letters"}
