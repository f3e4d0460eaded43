"""The checker on hand-written histories: one per pattern, crashed operations, counts, messages."""

import pytest

from harness import checkers
from harness.checkers import check

S = 1_000_000_000  # one second in ns; times below are offsets from a start at 10 s


def op(process, kind, value, call, ret, type_="ok", **extra):
    returned = None if ret is None else 10 * S + int(ret * S)
    return {"process": process, "op": kind, "value": value, "type": type_,
            "call": 10 * S + int(call * S), "return": returned, **extra}


def fifo(history):
    return check(history).checkers["fifo"]


def test_a_sequential_fifo_history_is_valid():
    history = [op(1, "put", "a", 0, 1), op(1, "put", "b", 2, 3), op(2, "get", "a", 4, 5),
               op(2, "get", "b", 6, 7), op(2, "get", None, 8, 9)]
    report = check(history)
    assert report.valid is True
    assert report.counts["lost"] == 0
    assert report.first_violation is None


def test_a_get_of_a_value_never_put_is_pattern_a():
    result = fifo([op(1, "put", "a", 0, 1), op(2, "get", "zzz", 2, 3)])
    assert result.valid is False
    assert "get→zzz returned at" in result.violations[0].message
    assert "never put" in result.violations[0].message


def test_a_get_returning_before_its_put_was_called_is_pattern_a():
    result = fifo([op(2, "get", "a", 0, 1), op(1, "put", "a", 2, 3)])
    assert not result.valid
    assert result.violations[0].message == (
        "FIFO violated: get→a returned at 1.000000 s before put(a) was called at 2.000000 s")


def test_two_gets_of_one_value_are_pattern_b():
    result = fifo([op(1, "put", "a", 0, 1), op(2, "get", "a", 2, 3), op(3, "get", "a", 4, 5)])
    assert not result.valid
    assert "get→a returned at 3.000000 s and again at 5.000000 s" in result.violations[0].message


def test_out_of_order_gets_are_pattern_c_named_in_plain_words():
    history = [op("w3", "put", "w3:17", 0.000, 1.204), op("w1", "put", "w1:9", 1.210, 1.300),
               op("c", "get", "w1:9", 1.400, 1.530), op("c", "get", "w3:17", 1.544, 1.600)]
    report = check(history)
    assert report.valid is False
    assert report.first_violation.message == (
        "FIFO violated: put(w3:17) returned at 1.204000 s before put(w1:9) was called at "
        "1.210000 s, but get→w1:9 returned at 1.530000 s before get→w3:17 was called at "
        "1.544000 s")
    assert len(report.first_violation.ops) == 4


def test_overlapping_puts_may_come_out_in_either_order():
    history = [op(1, "put", "a", 0, 2), op(2, "put", "b", 1, 3),
               op(3, "get", "b", 4, 5), op(3, "get", "a", 6, 7)]
    assert fifo(history).valid


def test_overlapping_gets_may_return_in_either_order():
    history = [op(1, "put", "a", 0, 1), op(1, "put", "b", 2, 3),
               op(2, "get", "b", 4, 7), op(3, "get", "a", 5, 6)]
    assert fifo(history).valid


def test_a_later_item_got_while_an_earlier_one_never_is_pattern_c():
    result = fifo([op(1, "put", "a", 0, 1), op(1, "put", "b", 2, 3), op(2, "get", "b", 4, 5)])
    assert not result.valid
    assert "while a was never got" in result.violations[0].message


def test_an_empty_get_while_an_item_was_certainly_there_is_pattern_d():
    history = [op(1, "put", "a", 0, 1), op(2, "get", None, 2, 3), op(2, "get", "a", 4, 5)]
    result = fifo(history)
    assert not result.valid
    assert result.violations[0].message == (
        "FIFO violated: get→empty was called at 2.000000 s and returned at 3.000000 s, but the "
        "queue certainly held a all that time: put(a) returned at 1.000000 s and get→a was "
        "called at 4.000000 s")


def test_an_empty_get_covered_by_two_items_in_turn_is_pattern_d():
    history = [op(1, "put", "a", 0, 1), op(1, "put", "b", 1.5, 2),
               op(2, "get", None, 1.2, 5), op(3, "get", "a", 3, 3.5), op(3, "get", "b", 6, 7)]
    assert not fifo(history).valid


def test_an_empty_get_overlapping_the_put_is_fine():
    history = [op(1, "put", "a", 0, 2), op(2, "get", None, 1, 3), op(2, "get", "a", 4, 5)]
    assert fifo(history).valid


def test_a_crashed_put_that_never_appears_is_dropped():
    history = [op(1, "put", "a", 0, None, "info"), op(2, "get", None, 2, 3)]
    report = check(history)
    assert report.valid
    assert report.counts["lost"] == 0


def test_a_crashed_put_that_appears_counts_as_recovered_and_returned_at_infinity():
    history = [op(1, "put", "a", 0, None, "info"), op(2, "put", "b", 1, 2),
               op(3, "get", "b", 3, 4), op(3, "get", "a", 5, 6)]
    report = check(history)
    assert report.valid
    assert report.counts["recovered"] == 1


def test_a_killed_get_explains_at_most_one_missing_item():
    one = [op(1, "put", "a", 0, 1), op(2, "get", None, 2, None, "info"), op(3, "get", None, 5, 6)]
    report = check(one)
    assert report.valid
    assert report.counts["taken_by_killed_gets"] == 1
    two = [op(1, "put", "a", 0, 1), op(1, "put", "b", 1.5, 1.8),
           op(2, "get", None, 2, None, "info"), op(3, "get", None, 5, 6)]
    report = check(two)
    assert report.valid is False
    assert report.counts["lost"] == 1
    assert report.counts["taken_by_killed_gets"] == 1


def test_a_killed_get_that_began_too_late_explains_nothing():
    history = [op(1, "put", "a", 0, 1), op(1, "put", "b", 2, 3), op(2, "get", "b", 4, 5),
               op(3, "get", None, 6, None, "info")]
    assert not fifo(history).valid


def test_lost_duplicated_and_unexpected_are_counted():
    history = [op(1, "put", "a", 0, 1), op(1, "put", "b", 2, 3), op(2, "get", "b", 4, 5),
               op(3, "get", "b", 6, 7), op(3, "get", "x", 8, 9), op(3, "get", None, 10, 11)]
    report = check(history)
    counts = report.counts
    assert (counts["lost"], counts["duplicated"], counts["unexpected"]) == (1, 1, 1)
    assert report.checkers["queue"].valid is False


def test_an_item_never_got_is_remaining_until_a_get_finds_the_queue_empty_after_its_put():
    history = [op(1, "put", "a", 0, 1), op(1, "put", "b", 2, 3), op(2, "get", "a", 4, 5)]
    report = check(history)
    assert (report.counts["lost"], report.counts["remaining"]) == (0, 1)
    assert report.valid is True
    # An empty get that began before b's put returned proves nothing about b.
    history.insert(1, op(3, "get", None, 1.5, 2.5))
    assert check(history).counts["remaining"] == 1


def test_the_drains_mark_proves_the_queue_empty():
    history = [op(1, "put", "a", 0, 1), op("drain", "drained", None, 5, 6)]
    report = check(history)
    assert (report.counts["lost"], report.counts["remaining"]) == (1, 0)
    assert report.checkers["queue"].valid is False


def test_an_operation_that_raised_fails_the_errors_checker():
    history = [op(1, "put", "a", 0, 1), op(9, "size", None, 1, 2, "fail",
                                            error="JSONDecodeError: Expecting value")]
    report = check(history)
    assert report.checkers["errors"].valid is False
    assert "size() raised JSONDecodeError" in report.checkers["errors"].violations[0].message
    assert report.checkers["fifo"].valid


def test_a_history_with_a_repeated_put_value_is_unknown_not_valid():
    report = check([op(1, "put", "a", 0, 1), op(2, "put", "a", 2, 3)])
    assert report.valid is None
    assert "unique" in report.checkers["fifo"].error


def test_a_checker_that_breaks_makes_the_verdict_unknown(monkeypatch):
    def broken(_facts):
        raise RuntimeError("bug")

    monkeypatch.setattr(checkers, "check_fifo", broken)
    report = check([op(1, "put", "a", 0, 1), op(2, "get", "a", 2, 3)])
    assert report.checkers["queue"].valid is True
    assert report.valid is None
    assert report.checkers["fifo"].error == "RuntimeError: bug"


def test_other_operations_are_ignored_by_the_fifo_checks():
    history = [op(1, "put", "a", 0, 1), op(9, "size", 1, 1, 2), op(2, "get", "a", 3, 4)]
    assert check(history).valid


@pytest.mark.parametrize("bad", [None, 5, "x"])
def test_the_report_serialises(bad):
    history = [op(1, "put", "a", 0, 1), op(2, "get", bad, 2, 3)]
    data = check(history).to_json()
    assert set(data) == {"valid", "counts", "checkers", "first_violation"}


def test_an_operation_that_raised_did_not_happen():
    failed_put = op(1, "put", "a", 0, 1, "fail", error="QueueFullError: cannot write")
    got_anyway = op(2, "get", "a", 2, 3)
    report = check([failed_put, got_anyway, op(2, "get", None, 4, 5)])
    assert report.checkers["queue"].valid is False
    assert "its put raised" in report.checkers["queue"].violations[0].message
    # A get that raised took nothing: it cannot explain an item that never came out.
    history = [op(1, "put", "b", 0, 1), op(2, "get", None, 2, 3, "fail", error="StorageError: x"),
               op(2, "get", None, 4, 5)]
    report = check(history)
    assert report.counts["lost"] == 1 and report.counts["taken_by_killed_gets"] == 0


def test_a_storage_error_is_not_an_error_of_the_queue_but_any_other_exception_is():
    history = [op(1, "put", "a", 0, 1, "fail", error="StorageError: cannot fsync x: [EIO]"),
               op(1, "put", "b", 2, 3), op(2, "get", "b", 4, 5),
               op(2, "get", None, 6, 7, "fail", error="QueueFullError: cannot write y")]
    report = check(history)
    assert report.valid is True
    assert report.counts["failed"] == 2
    history.append(op(2, "get", None, 8, 9, "fail", error="ValueError: bad"))
    assert check(history).checkers["errors"].valid is False
