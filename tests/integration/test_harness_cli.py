"""The harness's command line: stress, check, selftest and pod, and their exit codes."""

import json
import subprocess
import sys

import pytest

from harness.cli import main
from harness.history import HistoryError, read_history, validate


def test_stress_on_the_real_queue_is_valid_and_writes_its_files(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["stress", "--producers", "3", "--consumers", "3", "--items", "600",
                 "--seed", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "verdict: VALID" in printed
    history = read_history(out / "history.jsonl")
    puts = [op for op in history if op["op"] == "put"]
    assert len(puts) == 600
    assert len({op["value"] for op in puts}) == 600
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == "VALID"
    assert report["counts"]["lost"] == 0
    assert report["config"]["producers"] == 3
    assert report["throughput"]["puts_per_second"] > 0
    assert set(report["latency"]) >= {"put", "get", "size"}
    page = (out / "timeline.html").read_text()
    assert "VALID" in page
    assert "http" not in page.replace("https://", "").split("<script>")[0] + ""


def test_stress_with_kills_stays_valid_and_records_crashed_operations(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["stress", "--producers", "2", "--consumers", "2", "--items", "6000",
                 "--kill-every", "10", "--seed", "2", "--out", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["first_violation"]
    assert report["run"]["kills"] > 0
    assert report["counts"]["crashed"] > 0
    assert report["counts"]["lost"] == 0
    puts = [op for op in read_history(out / "history.jsonl") if op["op"] == "put"]
    assert len(puts) == 6000, "replacement producers put only what their victims had not begun"


def test_at_least_once_stress_with_kills_loses_nothing_and_explains_redeliveries(tmp_path,
                                                                              capsys):
    out = tmp_path / "run"
    code = main(["stress", "--delivery", "at-least-once", "--producers", "2", "--consumers",
                 "4", "--items", "3000", "--kill-every", "10", "--lease", "0.2", "--seed", "4",
                 "--out", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["first_violation"]
    counts = report["counts"]
    assert report["run"]["kills"] > 0
    assert counts["lost"] == 0
    assert counts["acked"] >= counts["put_ok"]  # plus puts killed in flight that landed
    assert counts["redelivered"] == sum(
        counts[k] for k in counts if k.startswith("redelivered_after_"))
    assert set(report["latency"]) >= {"put", "claim", "ack"}


def test_at_least_once_needs_a_backend_with_claims(tmp_path, capsys):
    code = main(["stress", "--delivery", "at-least-once", "--backend", "mutant-no-lock",
                 "--out", str(tmp_path)])
    assert code == 2
    assert "has no claim/ack" in capsys.readouterr().err


def test_a_second_stress_into_the_same_directory_starts_from_a_new_queue(tmp_path, capsys):
    argv = ["stress", "--producers", "1", "--consumers", "1", "--items", "50", "--seed", "5",
            "--out", str(tmp_path / "run"), "--json"]
    assert main(argv) == 0
    capsys.readouterr()
    [first] = (tmp_path / "run" / "work").glob("run-*/queue/tasks.json")
    first.write_text("left over")
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["put_ok"] == 50
    assert first.read_text() == "left over", "a run never touches what it did not create"


def test_stress_on_a_broken_queue_exits_1_and_names_the_violation(tmp_path, capsys):
    code = main(["stress", "--backend", "mutant-no-lock", "--producers", "4", "--consumers",
                 "4", "--items", "1000", "--readers", "0", "--seed", "3",
                 "--out", str(tmp_path / "run")])
    printed = capsys.readouterr().out
    assert code == 1
    assert "verdict: INVALID" in printed
    assert "first violation:" in printed
    page = (tmp_path / "run" / "timeline.html").read_text()
    assert "INVALID" in page


@pytest.mark.parametrize("argv", [
    ["stress", "--producers", "0"],
    ["stress", "--backend", "redis"],
    ["stress", "--kill-every", "-5"],
    ["stress", "--readers", "-1"],
    ["bogus"],
])
def test_bad_arguments_exit_2(argv, tmp_path, capsys):
    try:
        code = main([*argv, "--out", str(tmp_path)] if argv[0] == "stress" else argv)
    except SystemExit as exit:
        code = exit.code
    assert code == 2
    assert "error" in capsys.readouterr().err


def test_check_gives_the_saved_history_the_same_verdict(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["stress", "--producers", "2", "--consumers", "2", "--items", "300",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["check", str(out / "history.jsonl"), "--out", str(tmp_path / "again")]) == 0
    assert "verdict: VALID" in capsys.readouterr().out
    assert (tmp_path / "again" / "timeline.html").exists()


def test_check_of_a_violating_history_exits_1(tmp_path, capsys):
    lines = [
        {"process": 1, "op": "put", "value": "a", "type": "ok", "call": 0, "return": 10},
        {"process": 1, "op": "put", "value": "b", "type": "ok", "call": 20, "return": 30},
        {"process": 2, "op": "get", "value": "b", "type": "ok", "call": 40, "return": 50},
        {"process": 2, "op": "get", "value": "a", "type": "ok", "call": 60, "return": 70},
    ]
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["check", str(path)]) == 1
    assert "FIFO violated: put(a) returned at" in capsys.readouterr().out


@pytest.mark.parametrize("content, problem", [
    ('{"process": 1, "op": "put"}\n', ":1: missing field(s) value, type, call, return"),
    ('{"process": 1, "op": "put", "value": "a", "type": "ok", "call": 5, "return": 1}\n',
     ":1: 'return' must be an integer time not before 'call'"),
    ('\n{"process": 1, "op": "get", "value": null, "type": "ok", "call": 1, "return": null}\n',
     ":2: 'return' may be null only for an 'info' operation"),
    ("[1, 2]\nnot json\n", ":1: expected a JSON object"),
    ('{"process": 1, "op": "get", "value": null, "type": "ok", "call": 1, "return": 2}\nnope\n',
     ":2: not valid JSON"),
])
def test_check_of_a_malformed_history_exits_2_naming_the_line(tmp_path, capsys, content, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    assert main(["check", str(path)]) == 2
    assert problem in capsys.readouterr().err


def test_check_of_a_missing_or_empty_file_exits_2(tmp_path, capsys):
    assert main(["check", str(tmp_path / "absent.jsonl")]) == 2
    (tmp_path / "empty.jsonl").write_text("")
    assert main(["check", str(tmp_path / "empty.jsonl")]) == 2
    assert "holds no operations" in capsys.readouterr().err


def test_history_records_with_extra_fields_and_other_ops_are_accepted():
    record = {"process": "drain", "op": "size", "value": 3, "type": "ok", "call": 1,
              "return": 2, "note": "extra"}
    assert validate(record) is record
    with pytest.raises(HistoryError, match="a put needs a value"):
        validate({**record, "op": "put", "value": None})


@pytest.mark.timeout(240)
def test_selftest_catches_every_mutant_and_passes_the_real_queue(capsys):
    assert main(["selftest"]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    caught = [line for line in lines if line.startswith("ok ") and " caught " in line]
    assert len(caught) == 10, "7 stress mutants and 3 storage mutants"
    real = [line for line in lines if line.startswith("ok ") and " filequeue " in line]
    storage_checks = [line for line in real if line.split()[1] in ("faults", "crashpoints")]
    assert len(storage_checks) == 3
    assert any("crash points and" in line and "power-loss states" in line
               for line in storage_checks)
    assert "FAIL" not in printed


@pytest.mark.timeout(120)
def test_pod_command_checks_the_local_pod(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "harness", "pod", "--duration", "2", "--time-scale", "0.01",
         "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: VALID" in done.stdout
    assert "monitor: queue=" in done.stdout


def test_the_history_collector_catches_up_with_every_report_written_before():
    import os

    from harness.collector import Collector

    read_fd, write_fd = os.pipe()
    collector = Collector(read_fd)
    collector.start()
    for n in range(5000):
        os.write(write_fd, f'I\t7\tput\t{n}\t"v{n}"\n'.encode())
    collector.catch_up(write_fd)
    with collector.lock:
        assert collector.invoked_by[7] == 5000
    os.close(write_fd)
    collector.join()
