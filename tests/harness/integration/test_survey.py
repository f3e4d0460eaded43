"""``harness survey``: the table of every load on every backend, and cells for backends
that raise or hang."""

import json
import sys

import pytest

from harness.cli import main
from harness.survey import Load, isolated_cell

TOY_QUEUES = '''
import time


class Raising:
    def put(self, item):
        raise RuntimeError("database is locked")

    def get(self):
        return None

    def size(self):
        return 0


class Hanging(Raising):
    def put(self, item):
        pass

    def get(self):
        time.sleep(3600)


def raising(directory, *, fsync, options):
    return Raising()


def hanging(directory, *, fsync, options):
    return Hanging()
'''


@pytest.fixture
def toy_queues(tmp_path, monkeypatch):
    (tmp_path / "surveytoys.py").write_text(TOY_QUEUES)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("surveytoys", None)


def test_the_survey_writes_a_table_and_its_json(tmp_path):
    out = tmp_path / "out"
    code = main(["survey", "--backends", "filequeue,mutant-no-lock", "--items", "40",
                 "--kill-every", "20", "--out", str(out)])
    assert code == 0
    data = json.loads((out / "survey.json").read_text())
    rows = {row["backend"]: row["cells"] for row in data["rows"]}
    assert set(rows) == {"filequeue", "mutant-no-lock"}
    assert len(rows["filequeue"]) == 8
    assert {cell["status"] for cell in rows["filequeue"].values()} == {"VALID"}
    no_lock = rows["mutant-no-lock"]
    assert no_lock["4+4 claim/ack"]["status"] == "n/a"
    assert no_lock["4+4 get"]["status"] in ("VALID", "INVALID")
    table = (out / "survey.md").read_text()
    assert "| backend | 4+4 get | 4+4 get, SIGKILLs | 16+16 get |" in table
    assert "| `filequeue` | VALID " in table
    assert "| python |" in table


def test_a_backend_that_raises_is_an_invalid_cell_quoting_the_error(tmp_path, toy_queues):
    cell = isolated_cell("surveytoys:raising", Load(2, 2, False, "at-most-once"), 20, 50,
                         tmp_path, timeout=30, seed=1)
    assert cell.status == "INVALID"
    assert 'raised "RuntimeError: database is locked"' in cell.summary
    assert "INVALID" in cell.text()


def test_a_backend_that_hangs_is_a_failed_cell(tmp_path, toy_queues):
    cell = isolated_cell("surveytoys:hanging", Load(1, 1, False, "at-most-once"), 5, 50,
                         tmp_path, timeout=2, seed=1, grace=3)
    assert cell.status == "failed"
    assert "hung" in cell.summary
