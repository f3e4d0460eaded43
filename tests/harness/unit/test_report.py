"""The report a person reads: the latency table and the run line."""

import pytest

from harness.checkers import check
from harness.history.format import killed
from harness.reporting import report as reporting
from harness.stress.config import StressConfig
from harness.stress.run import StressRun


def op(process, name, value, call, ret, kind="ok"):
    return {"process": process, "op": name, "value": value, "type": kind, "call": call,
            "return": ret}


def history_with_a_kill():
    return [
        op(1, "put", "a", 1_000_000, 3_000_000),
        op(2, "get", "a", 4_000_000, 9_000_000),
        op(1, "put", "b", 10_000_000, None, kind="info"),
        killed(1, 11_000_000),
        op(2, "get", None, 12_000_000, 13_000_000),
        op("drain", "get", None, 20_000_000, 21_000_000),
    ]


def test_the_latency_table_has_a_row_per_call_and_none_for_the_harnesss_kills():
    table = reporting.latency(history_with_a_kill())
    assert set(table) == {"put", "get"}
    assert table["put"] == {"count": 1, "p50_ms": 2.0, "p99_ms": 2.0, "max_ms": 2.0}
    assert table["get"]["count"] == 2
    assert table["get"]["max_ms"] == 5.0


def test_the_text_report_shows_no_killed_row():
    history = history_with_a_kill()
    data = reporting.build(check(history), history)
    text = reporting.render_text(data)
    assert "  put: p50 2.000 ms, p99 2.000 ms, max 2.000 ms (1 op)" in text
    assert "  get: p50" in text and "(2 ops)" in text
    assert "killed: p50" not in text


def run_line(**config):
    history = history_with_a_kill()
    kills = config.pop("kills")
    run = StressRun(StressConfig(**config), history, wall_seconds=1.5, kills=kills)
    text = reporting.render_text(reporting.build(check(history), history, run))
    return next(line for line in text.splitlines() if line.startswith("run: "))


@pytest.mark.parametrize(("counts", "expected"), [
    ({"producers": 1, "consumers": 1, "readers": 1, "items": 1, "kills": 1},
     "run: 1 producer, 1 consumer, 1 reader, 1 item on filequeue; 1.50 s, 1 kill"),
    ({"producers": 2, "consumers": 8, "readers": 0, "items": 20000, "kills": 0},
     "run: 2 producers, 8 consumers, 0 readers, 20000 items on filequeue; 1.50 s, 0 kills"),
])
def test_every_count_in_the_run_line_agrees_with_its_noun(counts, expected):
    assert run_line(**counts) == expected
