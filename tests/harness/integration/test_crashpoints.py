"""Crash points and power-loss states: the tool sees a broken queue, passes a correct one, and
runs the real queue through its points."""

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.cli import main
from harness.disk import crashpoints, workloads
from harness.disk.crashpoints import (
    Expectation,
    Step,
    expect,
    explore,
    filequeue_opener,
    judge,
    lowered_thresholds,
    run_steps,
)
from harness.disk.mutants import QUEUES, MiniJournal
from harness.disk.selftest import run as storage_selftest
from queue_core import FileQueue


@pytest.fixture
def scratch(tmp_path):
    """A directory for the runs, in RAM when possible: thousands of small runs with fsync."""
    base = crashpoints.scratch_directory()
    if base is None:
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="test-crashpoints-", dir=base))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def _queue_with(path, *items):
    with FileQueue(path) as queue:
        for item in items:
            queue.put(item)


def _judge(path, exp):
    return judge(path, lambda p: FileQueue(p, clock=lambda: crashpoints.LATER), exp)


def test_expect_allows_only_the_in_flight_step_to_go_either_way():
    steps = [Step("open"), Step("put", "a"), Step("put", "b"), Step("get"), Step("put", "c")]
    values = [None, "a", "b", "a", "c"]
    exp = expect(steps, values, returned={0, 1, 2}, in_flight=3)
    assert exp.required == {"a", "b"} and exp.may_be_gone == {"a"} and not exp.consumed
    exp = expect(steps, values, returned={0, 1, 2, 3}, in_flight=4)
    assert exp.required == {"b"} and exp.consumed == {"a"} and exp.may_be_present == {"c"}
    assert exp.order == {"a": 0, "b": 1, "c": 2}


def test_judge_passes_a_queue_that_holds_what_it_must(tmp_path):
    path = tmp_path / "tasks.json"
    _queue_with(path, "a", "b")
    exp = Expectation(order={"a": 0, "b": 1, "c": 2}, required={"a", "b"},
                      may_be_present={"c"})
    assert _judge(path, exp) == []


def test_judge_reports_lost_duplicated_resurrected_and_reordered_items(tmp_path):
    path = tmp_path / "tasks.json"
    _queue_with(path, "b", "a", "b", "x")
    exp = Expectation(order={"a": 0, "b": 1, "c": 2}, required={"a", "b", "c"},
                      consumed={"x"})
    problems = _judge(path, exp)
    assert "'b' is in the queue 2 times" in problems
    assert "'x' came back after its get or ack returned" in problems
    assert "'c' is lost (its put returned)" in problems
    assert any(p.startswith("out of put order") for p in problems)


def test_judge_reports_a_queue_that_does_not_open(tmp_path):
    path = tmp_path / "tasks.json"
    path.write_text("not a queue")
    (problem,) = _judge(path, Expectation())
    assert problem.startswith("the queue does not open: CorruptQueueError")


def test_the_workloads_compact_the_journal_and_the_ledger(tmp_path):
    path = tmp_path / "q"
    with lowered_thresholds():
        for workload in ("put-get", "claims"):
            run_steps(crashpoints.WORKLOADS[workload](),
                      lambda p=path / workload / "tasks.json": filequeue_opener(
                          p, fsync=False, format="journal", clock=crashpoints._Clock()),
                      lambda *_: None)
    journal = json.loads((path / "put-get" / "tasks.json").read_bytes().split(b"\n")[0])
    ledger = (path / "claims" / "tasks.json.claims").read_bytes()
    assert journal["generation"] > 2
    assert b'"op":"entry"' in ledger  # a snapshot: the ledger was compacted


def test_lowered_thresholds_are_put_back():
    import queue_core.ledger as ledger

    before = ledger.COMPACT_MIN_BYTES
    with lowered_thresholds():
        assert before > ledger.COMPACT_MIN_BYTES
    assert before == ledger.COMPACT_MIN_BYTES


def test_a_torn_head_taken_for_a_new_queue_is_found(scratch):
    result = explore(opener=QUEUES["mutant-trusts-unreadable-head"], root=scratch)
    assert result.bad
    first = result.bad[0]
    assert first.where.startswith("half call")
    assert first.call.startswith("pwrite(tasks.json.head")
    assert any("came back after its get" in p for p in first.problems)
    assert any("mutants.py" in frame and "_write_head" in frame
               for frame in first.stack)


def test_a_correct_queue_passes_every_power_loss_state(scratch):
    # (its crash points are in the storage selftest below)
    power = explore(opener=QUEUES["mini-journal"], root=scratch, fsync=True, power_loss=True,
                    stride=2)
    assert power.bad == []
    assert power.points > power.calls / 2  # several states for many of the prefixes


def test_a_missing_fsync_is_found_by_the_power_loss_model(scratch):
    def never_syncs(path, *, fsync, format, clock):
        return MiniJournal(path, fsync=False)

    result = explore(opener=never_syncs, root=scratch, fsync=True, power_loss=True, stride=3)
    assert any("is lost (its put returned)" in p for bad in result.bad for p in bad.problems)


def test_storage_selftest_catches_every_storage_mutant_and_passes_the_reference(scratch):
    outcomes = storage_selftest(scratch, stride=2)
    assert {o.queue for o in outcomes if not o.caught} == {"mini-journal", "filequeue"}
    real = [o for o in outcomes if o.queue == "filequeue"]
    assert [o.scenario.check for o in real] == ["faults", "faults", "crashpoints"]
    assert "power-loss states (put-get, claims), none bad" in real[-1].detail
    assert [o.queue for o in outcomes if o.caught] == [
        "mutant-ignores-short-writes", "mutant-head-before-compaction",
        "mutant-trusts-unreadable-head"]
    assert all(o.as_expected for o in outcomes)


def test_a_stop_request_ends_the_storage_selftest_after_the_current_check(scratch):
    import signal

    from harness.interrupt import StopRequest

    stop = StopRequest()
    outcomes = storage_selftest(scratch, lambda outcome: stop.request(signal.SIGTERM),
                                stop=stop)
    assert [o.queue for o in outcomes] == ["mutant-ignores-short-writes"]


@pytest.mark.parametrize("workload", ["put-get", "claims"])
def test_the_real_queue_survives_a_crash_at_every_point(scratch, workload, queue_format):
    result = explore(workload, format=queue_format, root=scratch, stride=3)
    assert result.points > 40
    assert [bad.render() for bad in result.bad] == []


@pytest.mark.parametrize(("depth", "power_loss", "stride"), [(1, True, 5), (2, False, 400)])
def test_a_run_removes_the_doorbells_of_the_queues_it_made(scratch, tmp_path, monkeypatch,
                                                           depth, power_loss, stride):
    from queue_core import doorbell

    monkeypatch.setattr(doorbell, "BELL_DIRECTORY", tmp_path)  # this run's FIFOs only
    result = explore("put-get", format="journal", fsync=True, power_loss=power_loss,
                     root=scratch, stride=stride, depth=depth, second=("crash",))
    assert result.points > 40 and not result.bad
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("workload", ["put-get", "claims"])
def test_the_real_queue_survives_a_power_loss_at_every_point(scratch, workload):
    result = explore(workload, format="journal", fsync=True, power_loss=True, root=scratch,
                     stride=3)
    assert [bad.render() for bad in result.bad] == []


def test_cli_exit_codes(scratch, capsys):
    assert main(["crashpoints", "--queue", "mini-journal", "--stride", "4"]) == 0
    assert "0 bad" in capsys.readouterr().out
    assert main(["crashpoints", "--queue", "mutant-trusts-unreadable-head", "--json",
                 "--stride", "2", "--out", str(scratch)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["bad"] and data["points"] > data["calls"] / 2 > 0
    assert main(["crashpoints", "--power-loss"]) == 2
    assert "needs --fsync" in capsys.readouterr().err
    assert main(["crashpoints", "--format", "yaml"]) == 2
    assert main(["crashpoints", "--workload", "claims", "--queue", "mini-journal"]) == 2


def test_cli_fault_runs(scratch, capsys):
    assert main(["crashpoints", "--queue", "mini-journal", "--faults", "enospc,short-write",
                 "--seeds", "2", "--out", str(scratch)]) == 0
    assert "2 runs" in capsys.readouterr().out
    assert main(["crashpoints", "--queue", "mutant-ignores-short-writes", "--faults",
                 "short-write", "--seeds", "2", "--out", str(scratch)]) == 1
    assert "BAD seed" in capsys.readouterr().out
    assert main(["crashpoints", "--faults", "disk-on-fire"]) == 2


def test_a_file_changed_out_of_sight_of_the_interception_stops_the_run(scratch):
    class WritesThroughIo(MiniJournal):
        def put(self, item):
            super().put(item)
            self.path.with_name("side-file").write_bytes(b"io.open is not intercepted")

    def opener(path, *, fsync, format, clock):
        return WritesThroughIo(path)

    with pytest.raises(crashpoints.CrashpointsError, match="side-file differ"):
        explore(opener=opener, root=scratch)


def test_a_workload_that_raises_stops_the_run_with_its_error(scratch):
    def opener(path, *, fsync, format, clock):
        return FileQueue(path, format="no-such-format")

    with pytest.raises(crashpoints.CrashpointsError, match="step 0 raised ValueError: unknown"):
        explore(opener=opener, root=scratch)


def test_a_renamed_threshold_makes_the_run_fail_clearly(monkeypatch):
    monkeypatch.setattr(workloads, "THRESHOLDS", (("queue_core.ledger", "GONE", 1),))
    with pytest.raises(crashpoints.CrashpointsError, match=r"queue_core\.ledger\.GONE"):
        explore()


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("fsync", [False, True], ids=["fsync-off", "fsync-on"])
@pytest.mark.parametrize("workload", ["put-get", "claims"])
def test_every_crash_point_of_the_real_queue(scratch, workload, queue_format, fsync):
    result = explore(workload, format=queue_format, fsync=fsync, root=scratch)
    assert [bad.render() for bad in result.bad] == []


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("workload", ["put-get", "claims"])
def test_every_power_loss_state_of_the_real_queue(scratch, workload, queue_format):
    result = explore(workload, format=queue_format, fsync=True, power_loss=True, root=scratch)
    assert [bad.render() for bad in result.bad] == []
