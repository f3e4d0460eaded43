"""Long runs (marker slow, ``tox -e stress``): the issue's stress command and a big history."""

import json

import pytest

from harness.checkers import check
from harness.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_eight_by_eight_with_hundreds_of_kills_is_valid(tmp_path, capsys):
    # The journal moves 20,000 items in about a second: 100,000 items give hundreds of kills.
    out = tmp_path / "run"
    code = main(["stress", "--producers", "8", "--consumers", "8", "--items", "100000",
                 "--kill-every", "10", "--seed", "20261126", "--out", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["first_violation"]
    assert report["run"]["kills"] > 100
    assert report["counts"]["lost"] == 0
    assert report["counts"]["duplicated"] == 0


@pytest.mark.parametrize("backend", ["filequeue-journal", "filequeue-json-array"])
def test_the_at_least_once_crash_run_loses_nothing_through_hundreds_of_kills(
        tmp_path, capsys, backend):
    out = tmp_path / "run"
    code = main(["stress", "--delivery", "at-least-once", "--producers", "4", "--consumers",
                 "8", "--items", "20000", "--kill-every", "20", "--backend", backend,
                 "--seed", "20261126", "--out", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["first_violation"]
    counts = report["counts"]
    # The run's length, and so the number of kills, depends on the machine: ~200-360 here.
    assert report["run"]["kills"] >= 100
    assert counts["lost"] == 0
    assert counts["redelivered_after_holder_killed"] + counts[
        "redelivered_after_killed_during_claim"] > 0


def test_a_million_operation_history_is_checked_and_a_late_swap_is_found():
    start, history, value = 10**9, [], 0
    for i in range(250_000):
        t = start + i * 1000
        history.append({"process": 1, "op": "put", "value": f"v{i}", "type": "ok",
                        "call": t, "return": t + 400})
    for i in range(250_000):
        t = start + (250_000 + i) * 1000
        value = i
        history.append({"process": 2, "op": "get", "value": f"v{value}", "type": "ok",
                        "call": t, "return": t + 400})
    history = history * 2
    for i in range(500_000, 1_000_000):
        op = dict(history[i])
        op["value"] = "u" + op["value"][1:]
        op["call"] += 10**12
        op["return"] += 10**12
        history[i] = op
    history[-1]["value"], history[-2]["value"] = history[-2]["value"], history[-1]["value"]
    report = check(history)
    assert report.counts["operations"] == 1_000_000
    assert report.valid is False
    assert "FIFO violated" in report.first_violation.message
