"""The claims ledger's file on its own: exactly when the log is replaced by a snapshot (its
size, its record count after a reload, the dead letters it keeps), and the errors that name
the queue's files."""

import json

import pytest

from queue_core import CorruptQueueError, ledger
from queue_core.ledger import COMPACT_MIN_BYTES, COMPACT_RATIO, Ledger

SETTLED = {"op": "settled"}


def take(order, item="x"):
    return {"op": "take", "order": order, "item": item, "until": 0.0, "put_at": None,
            "from": 0}


def encoded(records):
    return sum(len(json.dumps(r, separators=(",", ":"))) + 1 for r in records)


def build(path, records, size=None):
    """A ledger holding ``records`` (not compacted), the first item padded so that the file
    is ``size`` bytes long once one more ``settled`` record is appended."""
    log = Ledger(path)
    if size is not None:
        first = dict(records[0])
        pad = size - len(log._header()) - encoded([*records, SETTLED])
        first["item"] = "x" * (len(first["item"]) + pad)
        records = [first, *records[1:]]
    log.append(*records, compact=False)
    return log


def appending_compacts(log, *records):
    """Append ``records``; True when that replaced the log by a snapshot (a new file)."""
    before = log.path.stat().st_ino
    log.append(*records)
    return log.path.stat().st_ino != before


@pytest.mark.parametrize("size, expected", [(COMPACT_MIN_BYTES - 1, False),
                                            (COMPACT_MIN_BYTES, True)])
def test_the_log_is_compacted_from_its_minimum_size_on(tmp_path, size, expected):
    records = [take(1), {"op": "remove", "order": 1}, *[SETTLED] * 10]
    log = build(tmp_path / "tasks.json", records, size)
    assert appending_compacts(log, SETTLED) == expected
    if not expected:
        assert log.path.stat().st_size == size
    log.close()


@pytest.mark.parametrize("settled, expected", [(5, False), (6, True)])
def test_the_log_is_compacted_past_ratio_times_the_live_records_counted_after_a_reload(
        tmp_path, settled, expected):
    # Nothing lives: the snapshot has 2 records, the log is compacted past 4 x 2 records.
    records = [take(1, "x" * COMPACT_MIN_BYTES), {"op": "remove", "order": 1},
               *[SETTLED] * settled]
    assert len(records) + 1 == COMPACT_RATIO * 2 + expected
    log = build(tmp_path / "tasks.json", records)
    log.close()  # the reload counts the records it replays
    assert appending_compacts(log, SETTLED) == expected
    log.close()


@pytest.mark.parametrize("settled, expected", [(16, False), (17, True)])
def test_dead_letters_count_as_live_records(tmp_path, settled, expected):
    # 3 dead letters and 1 entry: the snapshot would hold 6 records; compacted past 24.
    records = [take(1, "x" * COMPACT_MIN_BYTES)]
    for order in (2, 3, 4):
        records += [take(order), {"op": "dead", "order": order}]
    records += [SETTLED] * settled
    assert len(records) + 1 == COMPACT_RATIO * 6 + expected
    log = build(tmp_path / "tasks.json", records)
    assert appending_compacts(log, SETTLED) == expected
    assert len(log.load().dead) == 3
    log.close()


def test_a_ledger_of_another_queue_names_both_queues_and_every_file(tmp_path):
    path = tmp_path / "tasks.json"
    mine = Ledger(path)
    mine.queue_id = "aaaa"
    mine.append(SETTLED)
    mine.close()
    other = Ledger(path)
    other.queue_id = "bbbb"
    other.queue_files = [path, path.with_name("tasks.json.head")]
    with pytest.raises(CorruptQueueError) as caught:
        other.load()
    assert caught.value.problem == ("it belongs to queue aaaa, not to queue bbbb (a file left "
                                    "from another queue)")
    assert caught.value.move_away == [path, path.with_name("tasks.json.head"), other.path]


def test_a_record_that_cannot_be_applied_names_every_file(tmp_path):
    path = tmp_path / "tasks.json"
    log = Ledger(path)
    log.append(SETTLED)
    log.close()
    with open(log.path, "ab") as file:
        file.write(b'{"op":"claim","order":99,"until":1}\n')
    log.queue_files = [path]
    with pytest.raises(CorruptQueueError) as caught:
        log.load()
    assert caught.value.move_away == [path, log.path]
    assert caught.value.problem.startswith(f"a record after byte {len(log._header())} "
                                           "cannot be applied (KeyError: 99)")


def test_a_torn_record_whose_cut_fails_names_the_ledger(tmp_path, monkeypatch):
    import errno
    import os

    path = tmp_path / "tasks.json"
    log = Ledger(path)
    log.append(SETTLED)
    with open(log.path, "ab") as file:
        file.write(b'{"op":"sett')  # a crashed writer's half record

    def failing_truncate(fd, size):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "ftruncate", failing_truncate)
    with pytest.raises(ledger.StorageError) as caught:
        log.append(SETTLED)
    assert (caught.value.path, caught.value.operation) == (log.path, "truncate")
    log.close()


def test_undo_on_a_ledger_never_opened_changes_nothing(tmp_path):
    log = Ledger(tmp_path / "tasks.json")
    log.undo(0)
    assert list(tmp_path.iterdir()) == []
    assert log.load() is None


def test_undo_cuts_off_what_was_appended_since_the_mark(tmp_path):
    log = Ledger(tmp_path / "tasks.json")
    log.append(SETTLED)
    mark = log.mark()
    size = log.path.stat().st_size
    log.append(take(1), compact=False)
    log.undo(mark)
    assert log.path.stat().st_size == size
    assert log.load().entries == {}
    log.close()
