"""What the recorder makes of an operation's end: ``ok`` with its result, ``fail`` when it
raised (it did not happen), ``info`` when it raised an error that says its outcome is unknown
(``outcome_unknown``: it may have happened), with what it sent and the error's text."""

import errno

from harness.history.recorder import ListSink, Recorder
from queue_core import StorageError


def recorded(op, call, value=None):
    sink = ListSink()
    Recorder(7, sink)(op, call, value)
    (record,) = sink.records
    return record


def raising(error):
    def call():
        raise error
    return call


def test_an_operation_that_raised_did_not_happen():
    record = recorded("get", raising(StorageError("/q/tasks.json", "fsync", errno.EIO)))
    assert (record["type"], record["value"]) == ("fail", None)
    assert record["error"].startswith("StorageError: cannot fsync /q/tasks.json: [EIO]")


def test_an_operation_whose_error_says_its_outcome_is_unknown_may_have_happened():
    error = StorageError("/q/tasks.json", "fsync", errno.EIO, "its record was damaged",
                         outcome_unknown=True)
    record = recorded("ack", raising(error), {"item": "w1:3", "id": "3.1"})
    assert (record["type"], record["value"]) == ("info", {"item": "w1:3", "id": "3.1"})
    assert record["return"] >= record["call"]
    assert record["error"] == f"StorageError: {error}"
    assert "may have happened" in record["error"]


def test_only_a_true_outcome_unknown_makes_an_operation_uncertain():
    class Odd(Exception):
        outcome_unknown = "yes"  # not True: an ordinary failure

    assert recorded("put", raising(Odd("no")), "v")["type"] == "fail"
