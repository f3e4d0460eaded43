"""The harness's command line: stress, check, selftest and pod, and their exit codes."""

import json
import os
import subprocess
import sys
import tempfile

import pytest

from harness.cli import main
from harness.errors import HistoryError
from harness.history.files import read_history
from harness.history.format import validate


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


def test_kills_asked_faster_than_the_machine_can_kill_still_let_the_workers_finish(tmp_path,
                                                                                  capsys):
    # A kill and its replacement take a few milliseconds: asked for one every 0.2 ms, a
    # harness that kept to the schedule killed every replacement before it did anything.
    code = main(["stress", "--producers", "2", "--consumers", "2", "--items", "300",
                 "--kill-every", "0.2", "--seed", "3", "--timeout", "60", "--out",
                 str(tmp_path / "run"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["verdict"], report["run"]["failure"]) == (0, "VALID", None)
    assert report["run"]["kills"] > 0


def test_at_least_once_needs_a_backend_with_claims(tmp_path, capsys):
    code = main(["stress", "--delivery", "at-least-once", "--backend", "mutant-no-lock",
                 "--out", str(tmp_path)])
    assert code == 2
    assert "has no claim/ack" in capsys.readouterr().err


def test_a_stress_into_a_folder_that_holds_no_run_makes_its_own_queue(tmp_path, capsys):
    out = tmp_path / "run"
    left = out / "work" / "run-old" / "queue" / "tasks.json"
    left.parent.mkdir(parents=True)
    left.write_text("left over")
    argv = ["stress", "--producers", "1", "--consumers", "1", "--items", "50", "--seed", "5",
            "--out", str(out), "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["put_ok"] == 50
    assert left.read_text() == "left over", "a run never touches what it did not create"


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
def test_selftest_catches_every_mutant_and_passes_the_real_queue(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["selftest"]) == 0
    assert list(tmp_path.iterdir()) == [], "the selftest removes its temporary folder"
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

    from harness.history.collector import Collector

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


def exit_code(argv):
    """``main(argv)``'s exit code, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as usage:
        return usage.code


@pytest.mark.parametrize(("argv", "flag"), [
    (["stress", "--delivery", "at-least-once", "--lease", "inf"], "--lease"),
    (["stress", "--lease", "1"], "--lease"),
    (["stress", "--kill-every", "nan"], "--kill-every"),
    (["stress", "--duration", "-1"], "--duration"),
], ids=["infinite-lease", "lease-without-claims", "nan-kill-gap", "negative-duration"])
def test_flags_that_cannot_work_are_refused_before_anything_runs(tmp_path, capsys, argv, flag):
    assert exit_code([*argv, "--out", str(tmp_path / "run")]) == 2
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [
    ["stress", "--items", "10"], ["check", "HISTORY"], ["selftest"], ["pod", "--duration", "1"],
])
def test_an_output_path_that_cannot_be_used_is_one_line_and_exit_2(tmp_path, capsys, command):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    history = tmp_path / "h.jsonl"
    history.write_text('{"process":1,"op":"put","value":"a","type":"ok","call":1,"return":2}\n')
    command = [str(history) if part == "HISTORY" else part for part in command]
    flag = "--workdir" if command[0] == "pod" else "--out"
    code = main([*command, flag, str(blocker / "sub")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and str(blocker) in err and "Traceback" not in err


def test_check_refuses_operations_it_does_not_know_unless_they_are_mapped(tmp_path, capsys):
    history = tmp_path / "other-tool.jsonl"
    history.write_text("\n".join(json.dumps(op) for op in [
        {"process": 1, "op": "enqueue", "value": "a", "type": "ok", "call": 1, "return": 2},
        {"process": 2, "op": "dequeue", "value": "a", "type": "ok", "call": 3, "return": 4},
        {"process": 2, "op": "dequeue", "value": None, "type": "ok", "call": 5, "return": 6},
    ]) + "\n")
    assert main(["check", str(history)]) == 2
    err = capsys.readouterr().err
    assert f"{history}:1: unknown operation 'enqueue'" in err and "--op-names" in err
    assert main(["check", str(history), "--op-names", "put=enqueue,get=dequeue", "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)["counts"]
    assert (counts["put_ok"], counts["got"], counts["lost"]) == (1, 1, 0)
    assert main(["check", str(history), "--op-names", "push=enqueue"]) == 2
    assert "'push' is not an operation the checkers know" in capsys.readouterr().err


def test_check_of_a_history_without_a_drain_counts_remaining_items_not_lost(tmp_path, capsys):
    history = tmp_path / "no-drain.jsonl"
    history.write_text("\n".join(json.dumps(op) for op in [
        {"process": 1, "op": "put", "value": "a", "type": "ok", "call": 1, "return": 2},
        {"process": 1, "op": "put", "value": "b", "type": "ok", "call": 3, "return": 4},
        {"process": 2, "op": "get", "value": "a", "type": "ok", "call": 5, "return": 6},
    ]) + "\n")
    assert main(["check", str(history), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "VALID"
    assert (report["counts"]["lost"], report["counts"]["remaining"]) == (0, 1)


def test_one_seed_makes_the_same_choices_in_two_runs(tmp_path, capsys):
    reports = []
    for n in range(2):
        argv = ["stress", "--producers", "2", "--consumers", "3", "--items", "20000",
                "--kill-every", "15", "--seed", "77", "--out", str(tmp_path / f"r{n}"),
                "--json", "--quiet"]
        assert main(argv) == 0
        reports.append(json.loads(capsys.readouterr().out))
    first, second = (r["run"]["kill_log"] for r in reports)
    common = min(len(first), len(second))
    assert common >= 5
    assert [(k["at_s"], k["drawn"]) for k in first[:common]] == [
        (k["at_s"], k["drawn"]) for k in second[:common]]
    assert reports[0]["seed"] == 77
    assert reports[0]["rerun"].startswith("python -m harness stress --producers 2")
    assert " --seed 77" in reports[0]["rerun"]


@pytest.mark.parametrize("delivery", ["at-most-once", "at-least-once"])
@pytest.mark.parametrize("backend", ["filequeue-journal", "filequeue-json-array"])
def test_on_a_faulty_disk_the_real_queue_is_valid(tmp_path, capsys, backend, delivery):
    code = main(["stress", "--producers", "2", "--consumers", "2", "--items", "600",
                 "--faults", "enospc,eio,short-write", "--fault-rate", "0.02", "--backend",
                 backend, "--delivery", delivery, "--seed", "9", "--out", str(tmp_path),
                 "--json", "--quiet"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["first_violation"]
    assert report["counts"]["failed"] > 0, "faults were injected and reported"
    assert "--faults enospc,eio,short-write --fault-rate 0.02" in report["rerun"]


@pytest.mark.parametrize("delivery", ["at-most-once", "at-least-once"])
def test_on_a_faulty_disk_a_durable_queue_shared_by_processes_is_valid(tmp_path, capsys,
                                                                       delivery):
    # Group commit across processes: a failed sync takes back the changes it covered, and
    # only those (a change an earlier good sync covered returns, even after several epochs).
    code = main(["stress", "--fsync", "--producers", "6", "--consumers", "3", "--items",
                 "3000", "--faults", "eio,enospc,short-write", "--fault-rate", "0.01",
                 "--delivery", delivery, "--seed", "21", "--out", str(tmp_path), "--json",
                 "--quiet"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["first_violation"]
    assert report["counts"]["failed"] > 0, "faults were injected and reported"


def test_on_a_faulty_disk_a_queue_that_ignores_short_writes_is_caught(tmp_path, capsys):
    code = main(["stress", "--producers", "2", "--consumers", "2", "--items", "2000",
                 "--faults", "short-write", "--fault-rate", "0.05", "--backend",
                 "mutant-ignores-short-writes", "--seed", "9", "--out", str(tmp_path),
                 "--json", "--quiet"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["counts"]["lost"] > 0


USER_QUEUE = '''
from queue_core import FileQueue


def open_queue(directory, *, fsync, options):
    return FileQueue(directory / "mine.json", fsync=fsync, clock=options.get("clock", None)
                     or __import__("time").time)
'''


@pytest.mark.parametrize("delivery", ["at-most-once", "at-least-once"])
def test_stress_runs_a_queue_module_it_has_never_seen(tmp_path, delivery):
    (tmp_path / "myqueues.py").write_text(USER_QUEUE)
    done = subprocess.run(
        [sys.executable, "-m", "harness", "stress", "--backend", "myqueues:open_queue",
         "--producers", "2", "--consumers", "2", "--items", "500", "--delivery", delivery,
         "--kill-every", "30", "--out", str(tmp_path / "run"), "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: VALID" in done.stdout
    listed = subprocess.run([sys.executable, "-m", "harness", "backends", "myqueues:open_queue"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "myqueues:open_queue" in listed.stdout and "at-least-once" in listed.stdout
    assert "module myqueues" in listed.stdout


# -- the run folder and the flags ------------------------------------------------------------


def test_an_out_folder_that_holds_a_run_is_refused_and_left_as_it_was(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["stress", "--items", "20", "--out", str(out), "--quiet"]) == 0
    before = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    capsys.readouterr()
    assert main(["stress", "--items", "20", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"harness: error: --out {out} holds a run already "
                                "(history.jsonl, report.json, timeline.html): choose another "
                                "folder, or move that one away"]
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()} == before


def test_flags_refused_for_containers_leave_no_run_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert main(["stress", "--on", "docker", "--faults", "eio", "--out", str(out)]) == 2
    assert "storage faults are injected into local runs only" in capsys.readouterr().err
    assert not out.exists()
    assert main(["stress", "--on", "docker", "--faults", "eio"]) == 2
    assert not (tmp_path / "harness-runs").exists() or not any(
        (tmp_path / "harness-runs").iterdir())


def test_a_platform_that_fails_before_any_worker_started_leaves_no_run_folder(
        tmp_path, capsys, monkeypatch):
    tools = tmp_path / "bin"
    tools.mkdir()
    kubectl = tools / "kubectl"
    kubectl.write_text("#!/bin/sh\necho 'error: no configuration has been provided' >&2\n"
                       "exit 1\n")
    kubectl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    out = tmp_path / "run"
    assert main(["stress", "--on", "kubernetes", "--items", "10", "--out", str(out),
                 "--quiet"]) == 2
    assert "no configuration has been provided" in capsys.readouterr().err
    assert not out.exists()


def test_a_mistyped_flag_is_named_with_its_own_commands_usage(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["stress", "--kill-evry", "50"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: harness stress ")
    assert "harness stress: error: unrecognized arguments: --kill-evry 50" in err


def test_a_flag_is_never_abbreviated(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["stress", "--producer", "4"])
    assert caught.value.code == 2
    assert "unrecognized arguments: --producer 4" in capsys.readouterr().err
