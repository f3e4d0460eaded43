"""``harness campaign``: rounds of seeded runs over the configurations within a budget; a failing
run is kept with its seed, its evidence and a shrunk reproducer."""

import json

import pytest

from harness.campaign import Cell, campaign, cells, parse_budget, render_table
from harness.cli import main
from harness.stress.config import StressConfig


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("2h", 7200),
                                               ("45", 45), ("1.5m", 90)])
def test_a_budget_is_a_duration(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "0m", "-5s", "3d"])
def test_a_budget_that_is_no_duration_is_refused(text):
    with pytest.raises(ValueError, match="is not a duration"):
        parse_budget(text)


def test_the_configurations_cross_formats_fsync_deliveries_disturbances_and_sequences():
    names = [cell.name for cell in cells()]
    assert len(names) == len(set(names))
    assert "stress json-array fsync at-least-once kills+faults" in names
    assert "stress journal at-most-once tamper" in names
    assert "crashpoints journal fsync put-get power loss depth 2" in names
    assert "crashpoints json-array fsync claims crash depth 2" in names


def test_a_failing_run_is_kept_with_its_seed_evidence_and_a_smaller_reproducer(tmp_path):
    broken = Cell("stress no lock", stress=StressConfig(
        producers=4, consumers=4, readers=0, items=400, backend="mutant-no-lock"))
    calm = Cell("stress calm", stress=StressConfig(producers=1, consumers=1, readers=0,
                                                     items=20))
    said = []
    tallies = campaign(tmp_path, budget=0.001, seed=40, chosen=[broken, calm], say=said.append)
    assert tallies["stress no lock"].runs == 1 and tallies["stress no lock"].bad == 1
    assert tallies["stress calm"].runs == 0, "the budget was spent by the first round's run"
    (kept,) = (tmp_path / "invalid").iterdir()
    assert kept.name == "stress-no-lock-seed-40"
    assert json.loads((kept / "report.json").read_text())["verdict"] == "INVALID"
    first, _, smallest = (kept / "reproduce.txt").read_text().splitlines()
    assert "--backend mutant-no-lock" in first and "--seed 40" in first
    assert "--seed 40" in smallest
    assert said and said[0].startswith("BAD stress no lock, seed 40: ")
    assert "stress no lock" in render_table(tallies)
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())


def test_the_command_prints_the_table_and_exits_0_when_nothing_failed(tmp_path, capsys):
    code = main(["campaign", "--budget", "1s", "--only", "stress journal at-most-once calm",
                 "--items", "50", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert code == 0
    rows = printed.splitlines()
    assert rows[-2].split()[:4] == ["stress", "journal", "at-most-once", "calm"]
    runs = int(rows[-2].split()[4])
    assert runs >= 1 and rows[-1].split()[:3] == ["all", str(runs), "0"]


def test_an_unknown_configuration_or_budget_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["campaign", "--only", "no such", "--out", str(tmp_path)]) == 2
    assert main(["campaign", "--budget", "soon", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["harness: error: --only 'no such': no configuration has that in its name",
                   "harness: error: --budget: 'soon' is not a duration such as 90s, 10m or 2h"]
