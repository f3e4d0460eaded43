"""Injected storage faults, and the check that a queue keeps its promises under them."""

import errno
import os

import pytest

from harness.disk import fileops
from harness.disk.faults import FAULTS, check_under_faults, install_faults, parse_faults
from harness.disk.mutants import QUEUES
from queue_core.atomic import write_atomic
from queue_core.errors import StorageError


@pytest.fixture
def faults_off():
    """Whatever a test installs, the real ``os`` functions are back afterwards."""
    real = {name: getattr(os, name) for name in fileops.REAL}
    yield
    for name, function in real.items():
        setattr(os, name, function)


def test_parse_faults_names_an_unknown_fault():
    assert parse_faults("enospc, short-write") == ("enospc", "short-write")
    with pytest.raises(ValueError, match="unknown fault eoi"):
        parse_faults("enospc,eoi")
    with pytest.raises(ValueError):
        parse_faults("")


def test_install_rejects_a_bad_rate_or_kind():
    with pytest.raises(ValueError, match="rate"):
        install_faults(FAULTS, 1.5)
    with pytest.raises(ValueError, match="faults must be"):
        install_faults(["disk-on-fire"], 0.1)


def test_a_short_write_writes_a_prefix_and_returns_its_count(tmp_path, faults_off):
    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    faults = install_faults(["short-write"], 1.0, seed=3)
    try:
        count = os.write(fd, b"0123456789")
    finally:
        faults.uninstall()
    os.close(fd)
    assert 1 <= count < 10
    assert path.read_bytes() == b"0123456789"[:count]
    assert faults.injected == {"short-write": 1}


def test_enospc_fails_the_call_and_a_call_right_after_a_fault_succeeds(tmp_path, faults_off):
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o644)
    faults = install_faults(["enospc"], 1.0)
    try:
        with pytest.raises(OSError) as failure:
            os.write(fd, b"abc")
        assert failure.value.errno == errno.ENOSPC
        assert os.write(fd, b"abc") == 3  # transient: the queue can undo what it began
        with pytest.raises(OSError):
            os.fsync(fd)
    finally:
        faults.uninstall()
        os.close(fd)


def test_only_files_under_the_given_directory_fail(tmp_path, faults_off):
    (tmp_path / "queue").mkdir()
    faults = install_faults(["eio"], 1.0, only_under=tmp_path / "queue")
    try:
        write_atomic(tmp_path / "elsewhere", b"fine")
        read_fd, write_fd = os.pipe()
        assert os.write(write_fd, b"x") == 1  # a pipe (a worker's report) is never touched
        with pytest.raises(StorageError) as failure:
            write_atomic(tmp_path / "queue" / "f", b"data")
        assert failure.value.errno == errno.EIO
    finally:
        faults.uninstall()
    os.close(read_fd)
    os.close(write_fd)
    assert (tmp_path / "elsewhere").read_bytes() == b"fine"
    assert not (tmp_path / "queue" / "f").exists()


def test_uninstall_puts_the_real_functions_back(faults_off):
    faults = install_faults(FAULTS, 0.5)
    assert os.write is not fileops.REAL["write"]
    faults.uninstall()
    faults.uninstall()
    assert all(getattr(os, name) is fileops.REAL[name] for name in fileops.REAL)


def test_the_same_seed_injects_the_same_faults(tmp_path, faults_off):
    runs = [check_under_faults(QUEUES["mini-journal"], tmp_path, rate=0.1, seed=7,
                               operations=100) for _ in range(2)]
    assert runs[0].injected == runs[1].injected
    assert sum(runs[0].injected.values()) > 0


def test_a_correct_queue_passes_the_fault_check(tmp_path, faults_off):
    for seed in range(5):
        check = check_under_faults(QUEUES["mini-journal"], tmp_path, seed=seed)
        assert check.failed > 0, "no operation failed: the check proved nothing"
        assert check.problems == []


@pytest.mark.parametrize("mutant", ["mutant-ignores-short-writes",
                                    "mutant-head-before-compaction"])
def test_the_fault_check_catches_each_storage_mutant(tmp_path, mutant, faults_off):
    found = (check_under_faults(QUEUES[mutant], tmp_path, seed=seed).problems
             for seed in range(10))
    assert any(found), f"{mutant} passed 10 seeded fault runs"


def test_the_json_array_queue_keeps_every_promise_under_faults(tmp_path, faults_off):
    for seed in range(3):
        check = check_under_faults(QUEUES["filequeue"], tmp_path, seed=seed, format="json-array")
        assert check.failed > 0
        assert check.problems == []


def test_the_journal_queue_keeps_every_promise_under_faults(tmp_path, faults_off):
    for seed in range(3):
        check = check_under_faults(QUEUES["filequeue"], tmp_path, seed=seed, format="journal")
        assert check.failed > 0
        assert check.problems == []


@pytest.mark.parametrize("fmt", ["journal", "json-array"])
def test_claims_keep_every_promise_under_faults(tmp_path, fmt, faults_off):
    for seed in range(3):
        check = check_under_faults(QUEUES["filequeue"], tmp_path, seed=seed, format=fmt,
                                   workload="claims")
        assert check.failed > 0
        assert check.problems == []


def test_the_claims_workload_needs_a_queue_with_claims(tmp_path, faults_off):
    with pytest.raises(ValueError, match="MiniJournal has no claim"):
        check_under_faults(QUEUES["mini-journal"], tmp_path, workload="claims")
